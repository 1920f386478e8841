/* The io-wq part of the native reference (bench/native/io-wq.c): `kwq-native io-wq ...`. */
#ifndef KWQ_NATIVE_IO_WQ_H
#define KWQ_NATIVE_IO_WQ_H

int io_wq_main(int argc, char **argv);

#endif
