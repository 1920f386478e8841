/* The loop part of the native reference (bench/native/loop.c): `kwq-native loop ...`. */
#ifndef KWQ_NATIVE_LOOP_H
#define KWQ_NATIVE_LOOP_H

int loop_main(int argc, char **argv);

#endif
