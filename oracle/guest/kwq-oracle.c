/*
 * kwq-oracle: the guest side of kwq's real-kernel oracle.
 *
 *   kwq-oracle [-o FILE|-] [--no-cleanup] PROGRAM
 *
 * The host compiles step scripts to a text program; this program runs it on a real
 * kernel and prints one record per step. docs/oracle-wire.md is the contract: the
 * program's lines, the ops and their keys, the records.
 *
 * Design
 *  - The executor ("init") reads the whole program, splits each step line, resolves the
 *    `$name` references in its integer values, and either runs the step itself (init's
 *    own steps, under a 20 s timer, and the executor-only ops spawn, alive, threads, ps,
 *    sleep, dmesg) or sends the resolved line to the task named by task= over that
 *    task's AF_UNIX connection (20 s for the reply) and prints the one-line reply.
 *  - Every other task is a real process (spawn, fork) or a raw clone(2) thread (thread)
 *    that connects to the executor's listening socket "\0kwq-oracle", moves the
 *    connection to fd 900 or above, says "hello NAME TID" and serves commands.
 *  - A thread made by raw clone shares its creator's TLS, so everything a task runs (the
 *    serve loop and every task op) uses only raw system calls through rsys_(): no stdio,
 *    no malloc, no errno. Every call returns -errno itself, which is what records carry.
 *    Each task has its own mmap'd work area for its line, data and reply buffers.
 *    Processes are forked with a raw clone(SIGCHLD) for the same reason.
 *  - The executor's own fds (output, listening socket, connections) live at 900 and up, so
 *    init's steps get the fd numbers of a process with only 0, 1 and 2 open. A spawned
 *    child closes every fd from 3 up, a forked child every fd from 900 up.
 *  - Between scripts the executor undoes what the script did: it kills its tasks, waits for
 *    vhost workers to go, clears the loop devices the script bound, undoes in reverse order
 *    the mounts, files and directories (cgroups included) that steps created (tracked as
 *    they succeed), and removes the loop devices that were not there at start.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/klog.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define HIGH_FD 900                        /* connections and executor fds live here */
#define IN_MAX (4 << 20)                   /* longest command line */
#define DATA_MAX (1 << 20)                 /* readfile limit, read/write/ioctl buffer */
#define OUT_MAX (3 * DATA_MAX + 65536)     /* longest reply (1 MiB percent-encoded) */
#define NPTR 16384                         /* ls: most names */
#define STACK_SIZE 65536                   /* a thread task's stack */
#define MAX_KV 64                          /* most key=value pairs in a step */
#define REPLY_MS 20000                     /* a task's reply (or hello) */
#define DEAD_MS 5000                       /* waiting for a task to die */
#define MAX_TASKS 256
#define MAX_BINDS 1024
#define MAX_UNDO 1024
#define MAX_LOOP 4096
#define MAX_THR 8192
#define SYSLOG_ACTION_READ_ALL 3
#define SYSLOG_ACTION_SIZE_BUFFER 10

/* ---- raw system calls: return the result or -errno, touch no TLS ---- */

#if defined(__x86_64__)
static long rsys_(long n, long a, long b, long c, long d, long e, long f, ...)
{
	register long r10 __asm__("r10") = d, r8 __asm__("r8") = e, r9 __asm__("r9") = f;
	long ret;
	__asm__ volatile("syscall" : "=a"(ret)
			 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}
#elif defined(__aarch64__)
static long rsys_(long n, long a, long b, long c, long d, long e, long f, ...)
{
	register long x8 __asm__("x8") = n, x0 __asm__("x0") = a, x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c, x3 __asm__("x3") = d, x4 __asm__("x4") = e;
	register long x5 __asm__("x5") = f;
	__asm__ volatile("svc 0" : "+r"(x0)
			 : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5) : "memory");
	return x0;
}
#else
static long rsys_(long n, long a, long b, long c, long d, long e, long f, ...)
{
	long r = syscall(n, a, b, c, d, e, f);
	return r == -1 ? -errno : r;
}
#endif
/* RS(SYS_x, args...): unused trailing arguments are zero. */
#define RS(...) rsys_(__VA_ARGS__, 0, 0, 0, 0, 0, 0)
#define L(p) ((long)(p))

static void __attribute__((noreturn)) quit(int is_thread, long code)
{
	if (is_thread)
		RS(SYS_exit, code);
	RS(SYS_exit_group, code);
	for (;;)
		;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	RS(SYS_nanosleep, L(&ts), 0);
}

static long now_ms(void)
{
	struct timespec ts;
	RS(SYS_clock_gettime, CLOCK_MONOTONIC, L(&ts));
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* A new process must not keep the executor's SIGALRM handler (see run_init_op). */
static void default_sigalrm(void)
{
	long ksa[4] = { 0, 0, 0, 0 }; /* the kernel's sigaction: SIG_DFL, no flags, no mask */
	RS(SYS_rt_sigaction, SIGALRM, L(ksa), 0, 8);
}

/* Close every fd from `lo` up (close_range, or one by one on an old kernel). */
static void close_from(int lo)
{
	if (RS(SYS_close_range, lo, ~0U, 0) == 0)
		return;
	for (int fd = lo; fd < 65536; fd++)
		RS(SYS_close, fd);
}

static long write_all(int fd, const char *p, size_t n, int sock)
{
	while (n) {
		long r = sock ? RS(SYS_sendto, fd, L(p), n, MSG_NOSIGNAL, 0, 0)
			      : RS(SYS_write, fd, L(p), n);
		if (r == -EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? r : -EIO;
		p += r;
		n -= r;
	}
	return 0;
}

/* Read a whole (small or up to cap) file; returns bytes read or -errno. */
static long read_file(const char *path, char *buf, size_t cap)
{
	long fd = RS(SYS_openat, AT_FDCWD, L(path), O_RDONLY, 0), n = 0, r = 0;
	if (fd < 0)
		return fd;
	while ((size_t)n < cap && (r = RS(SYS_read, fd, L(buf + n), cap - n)) > 0)
		n += r;
	RS(SYS_close, fd);
	return r < 0 ? r : n;
}

/* open(O_WRONLY), one write, close: write's return or -errno. */
static long write_file(const char *path, const char *data, size_t n)
{
	long fd = RS(SYS_openat, AT_FDCWD, L(path), O_WRONLY, 0);
	if (fd < 0)
		return fd;
	long r = RS(SYS_write, fd, L(data), n);
	RS(SYS_close, fd);
	return r;
}

/* ---- output buffers and the wire encodings ---- */

struct buf { char *p; size_t n, cap; };

static void put(struct buf *b, const void *s, size_t n)
{
	if (n > b->cap - b->n)
		n = b->cap - b->n;
	memcpy(b->p + b->n, s, n);
	b->n += n;
}
static void puts_(struct buf *b, const char *s) { put(b, s, strlen(s)); }

static void put_i64(struct buf *b, int64_t v)
{
	char t[24];
	int i = 24;
	uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
	do
		t[--i] = '0' + u % 10;
	while (u /= 10);
	if (v < 0)
		t[--i] = '-';
	put(b, t + i, 24 - i);
}

static void put_hex(struct buf *b, const unsigned char *s, size_t n)
{
	static const char hx[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		char t[2] = { hx[s[i] >> 4], hx[s[i] & 15] };
		put(b, t, 2);
	}
}

static int plain(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       (ch && strchr("._/:,+-", ch));
}

/* Percent-encode: every byte outside [A-Za-z0-9._/:,+-] as %XX. */
static void put_enc(struct buf *b, const void *src, size_t n)
{
	static const char hx[] = "0123456789ABCDEF";
	const unsigned char *s = src;
	for (size_t i = 0; i < n; i++) {
		char t[3] = { '%', hx[s[i] >> 4], hx[s[i] & 15] };
		if (plain(s[i]))
			put(b, s + i, 1);
		else
			put(b, t, 3);
	}
}

/* " key=" (no space before the first pair) */
static void put_key(struct buf *b, const char *k)
{
	if (b->n)
		put(b, " ", 1);
	puts_(b, k);
	put(b, "=", 1);
}
static void put_kv(struct buf *b, const char *k, int64_t v) { put_key(b, k); put_i64(b, v); }

/* ret=N, and errno=E when N is -E */
static void put_ret(struct buf *b, long r)
{
	put_kv(b, "ret", r);
	if (r < 0 && r >= -4095)
		put_kv(b, "errno", -r);
}

/* A step that could not run: the reply is only error=WHAT. */
static void fail(struct buf *b, const char *what, const char *detail)
{
	b->n = 0;
	put_key(b, "error");
	puts_(b, what);
	if (detail) {
		put(b, ":", 1);
		put_enc(b, detail, strlen(detail));
	}
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode s in place (NUL-terminated); returns the decoded length. */
static size_t pct_decode(char *s)
{
	char *d = s, *p = s;
	while (*p) {
		if (p[0] == '%' && hexval(p[1]) >= 0 && hexval(p[2]) >= 0) {
			*d++ = (char)(hexval(p[1]) * 16 + hexval(p[2]));
			p += 3;
		} else {
			*d++ = *p++;
		}
	}
	*d = 0;
	return d - s;
}

/* An integer: decimal (maybe negative), 0x hex, or `inf` (RLIM_INFINITY, all ones). */
static int parse_intn(const char *s, size_t n, int64_t *v)
{
	uint64_t u = 0;
	int neg = 0, base = 10;
	if (n == 3 && !memcmp(s, "inf", 3)) {
		*v = -1;
		return 0;
	}
	if (n && *s == '-') {
		neg = 1;
		s++;
		n--;
	}
	if (n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
		n -= 2;
	}
	if (!n)
		return -1;
	for (; n; s++, n--) {
		int d = hexval(*s);
		if (d < 0 || d >= base)
			return -1;
		u = u * base + d;
	}
	*v = neg ? -(int64_t)u : (int64_t)u;
	return 0;
}
static int parse_int(const char *s, int64_t *v) { return parse_intn(s, strlen(s), v); }

/* ---- a step line split into idx, op and key=value pairs (values decoded) ---- */

struct cmd {
	char *idx, *op;
	int n;
	char *k[MAX_KV], *v[MAX_KV];
	size_t vl[MAX_KV];
};

static int split_cmd(char *s, struct cmd *c)
{
	int i = 0;
	c->n = 0;
	c->idx = c->op = NULL;
	while (*s) {
		char *t = s, *eq;
		while (*s && *s != ' ')
			s++;
		if (*s)
			*s++ = 0;
		if (!*t)
			continue;
		if (i == 0)
			c->idx = t;
		else if (i == 1)
			c->op = t;
		else if (c->n == MAX_KV || !(eq = strchr(t, '=')))
			return -1;
		else {
			*eq = 0;
			c->k[c->n] = t;
			c->v[c->n] = eq + 1;
			c->vl[c->n++] = pct_decode(eq + 1);
		}
		i++;
	}
	return c->op ? 0 : -1;
}

static const char *arg(const struct cmd *c, const char *k, size_t *len)
{
	for (int i = 0; i < c->n; i++)
		if (!strcmp(c->k[i], k)) {
			if (len)
				*len = c->vl[i];
			return c->v[i];
		}
	return NULL;
}

/* 1: found and parsed, 0: absent, -1: not an integer */
static int argi(const struct cmd *c, const char *k, int64_t *v)
{
	const char *s = arg(c, k, NULL);
	if (!s)
		return 0;
	return parse_int(s, v) ? -1 : 1;
}

/* ---- a task: its connection and its work area ---- */

struct ctx {
	int conn, is_thread;
	char name[64];
	char *in, *data;
	char **ptrs;
	struct buf out;
};

static struct sockaddr_un g_addr;       /* the executor's abstract address */
static socklen_t g_addrlen;

static struct ctx *alloc_ctx(void)
{
	size_t sz = 4096 + IN_MAX + DATA_MAX + 65536 + NPTR * sizeof(char *) + OUT_MAX + 16;
	long m = RS(SYS_mmap, 0, sz, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m < 0 && m >= -4095)
		return NULL;
	struct ctx *x = (struct ctx *)m;
	x->conn = -1;
	x->in = (char *)m + 4096;
	x->data = x->in + IN_MAX;
	x->ptrs = (char **)(x->data + DATA_MAX + 65536);
	x->out.p = (char *)(x->ptrs + NPTR);
	x->out.cap = OUT_MAX;
	return x;
}

/* Connect to the executor; the connection moves to fd 900 or above (kept low only when
 * RLIMIT_NOFILE forbids it). Returns the fd or -errno. */
static long dial(void)
{
	long s = RS(SYS_socket, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), h, r;
	if (s < 0)
		return s;
	if ((r = RS(SYS_connect, s, L(&g_addr), g_addrlen)) < 0) {
		RS(SYS_close, s);
		return r;
	}
	if ((h = RS(SYS_fcntl, s, F_DUPFD_CLOEXEC, HIGH_FD)) < 0)
		return s;
	RS(SYS_close, s);
	return h;
}

/* A new task's start: its work area and its connection (quits on failure). */
static struct ctx *task_start(const char *name, int is_thread)
{
	struct ctx *x = alloc_ctx();
	if (!x)
		quit(is_thread, 111);
	x->is_thread = is_thread;
	size_t n = strlen(name);
	memcpy(x->name, name, n < 63 ? n : 63);
	long fd = dial();
	if (fd < 0)
		quit(is_thread, 112);
	x->conn = (int)fd;
	return x;
}

/* "hello NAME TID" or "fail NAME -E" */
static void say(struct ctx *x, const char *word, long v)
{
	x->out.n = 0;
	puts_(&x->out, word);
	put(&x->out, " ", 1);
	put_enc(&x->out, x->name, strlen(x->name));
	put(&x->out, " ", 1);
	put_i64(&x->out, v);
	put(&x->out, "\n", 1);
	write_all(x->conn, x->out.p, x->out.n, 1);
}

/* One line from fd into buf (NUL-terminated, no '\n'); length, 0 at EOF, -1 too long. */
static long read_line(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	for (;;) {
		long r = RS(SYS_read, fd, L(buf + n), cap - 1 - n);
		if (r == -EINTR)
			continue;
		if (r <= 0)
			return 0;
		n += r;
		if (buf[n - 1] == '\n') {
			buf[n - 1] = 0;
			return n;
		}
		if (n == cap - 1)
			return -1;
	}
}

static void run_op(struct ctx *x, struct cmd *c, struct buf *o);

/* The serve loop: one command line in, one reply line out, until the executor goes. */
static void __attribute__((noreturn)) serve(struct ctx *x)
{
	say(x, "hello", RS(SYS_gettid));
	for (;;) {
		struct cmd c;
		if (read_line(x->conn, x->in, IN_MAX) <= 0) {
			if (x->is_thread)
				RS(SYS_close, x->conn);
			quit(x->is_thread, 0);
		}
		x->out.n = 0;
		x->out.cap = OUT_MAX - 1; /* room for the '\n' */
		if (split_cmd(x->in, &c) < 0)
			fail(&x->out, "malformed", NULL);
		else
			run_op(x, &c, &x->out);
		x->out.p[x->out.n++] = '\n';
		write_all(x->conn, x->out.p, x->out.n, 1);
		/* give back what the command touched (it is charged to the task's memcg) */
		RS(SYS_madvise, L(x->in), IN_MAX + DATA_MAX, MADV_DONTNEED);
		RS(SYS_madvise, L(x->out.p), OUT_MAX, MADV_DONTNEED);
	}
}

/* ---- task ops (run by any task, init included; raw calls only) ---- */

typedef void opfn(struct ctx *x, struct cmd *c, struct buf *o);

static void op_fork(struct ctx *x, struct cmd *c, struct buf *o)
{
	const char *as = arg(c, "as", NULL);
	(void)x;
	if (!as) {
		fail(o, "bad-arg", "as");
		return;
	}
	long pid = RS(SYS_clone, SIGCHLD, 0, 0, 0, 0);
	if (pid == 0) {
		close_from(HIGH_FD); /* the parent's connection(s), the executor's fds */
		default_sigalrm();
		serve(task_start(as, 0));
	}
	put_ret(o, pid);
}

struct tstart { char name[64], comm[16]; int has_comm; };

static int thread_main(void *p)
{
	struct tstart *t = p;
	if (t->has_comm)
		RS(SYS_prctl, PR_SET_NAME, L(t->comm));
	serve(task_start(t->name, 1));
}

static void op_thread(struct ctx *x, struct cmd *c, struct buf *o)
{
	const char *as = arg(c, "as", NULL), *comm = arg(c, "comm", NULL);
	(void)x;
	if (!as) {
		fail(o, "bad-arg", "as");
		return;
	}
	long st = RS(SYS_mmap, 0, STACK_SIZE, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (st < 0 && st >= -4095) {
		put_ret(o, st);
		return;
	}
	struct tstart *t = (struct tstart *)st; /* at the bottom of the new stack */
	strncpy(t->name, as, sizeof t->name - 1);
	if ((t->has_comm = comm != NULL))
		strncpy(t->comm, comm, sizeof t->comm - 1);
	long tid = clone(thread_main, (char *)st + STACK_SIZE,
			 CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
				 CLONE_SYSVSEM, t);
	put_ret(o, tid < 0 ? -errno : tid);
}

/* busy: `threads` raw clone(2) threads of the task's process that spin in user space until
 * the process dies (a CPU hog for the cpu controller's scripts); they serve no commands. */
#define SPIN_STACK 16384
static int spin_main(void *p)
{
	(void)p;
	for (;;)
		__asm__ __volatile__("" ::: "memory");
	return 0;
}

static void op_busy(struct ctx *x, struct cmd *c, struct buf *o)
{
	int64_t n;
	(void)x;
	if (argi(c, "threads", &n) != 1 || n < 1 || n > 64) {
		fail(o, "bad-arg", "threads");
		return;
	}
	for (int64_t i = 0; i < n; i++) {
		long st = RS(SYS_mmap, 0, SPIN_STACK, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
		if (st < 0 && st >= -4095) {
			put_ret(o, st);
			return;
		}
		long tid = clone(spin_main, (char *)st + SPIN_STACK,
				 CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
					 CLONE_SYSVSEM, NULL);
		if (tid < 0) {
			put_ret(o, -errno);
			return;
		}
	}
	put_ret(o, n);
}

static void op_exit(struct ctx *x, struct cmd *c, struct buf *o)
{
	int64_t code = 0;
	if (x->conn < 0) {
		fail(o, "init-cannot-exit", NULL);
		return;
	}
	argi(c, "code", &code);
	if (x->is_thread)
		RS(SYS_close, x->conn); /* the fd table is shared: close our end ourselves */
	quit(x->is_thread, code);
}

static void op_wait(struct ctx *x, struct cmd *c, struct buf *o)
{
	int64_t pid;
	int st = 0;
	(void)x;
	if (argi(c, "pid", &pid) != 1) {
		fail(o, "bad-arg", "pid");
		return;
	}
	long r = RS(SYS_wait4, pid, L(&st), 0, 0);
	put_ret(o, r);
	if (r > 0) {
		put_key(o, "status");
		puts_(o, WIFEXITED(st) ? "exited:" : WIFSIGNALED(st) ? "signaled:" : "other:");
		put_i64(o, WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? WTERMSIG(st) : st);
	}
}

/* read/write/pread/pwrite: `count` calls of `len` bytes, stopping at a short one. */
static void rw(struct ctx *x, struct cmd *c, struct buf *o, int wr, int pos)
{
	int64_t fd, len, cnt = 1, off = 0, total = 0;
	long r = 0, m = 0;
	char *b = x->data;
	if (argi(c, "fd", &fd) != 1 || argi(c, "len", &len) != 1 || len < 0 ||
	    argi(c, "count", &cnt) < 0 || (pos && argi(c, "off", &off) != 1)) {
		fail(o, "bad-arg", "fd/len/count/off");
		return;
	}
	if (len > DATA_MAX) {
		m = RS(SYS_mmap, 0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m < 0 && m >= -4095) {
			put_ret(o, m);
			return;
		}
		b = (char *)m;
	}
	if (wr)
		memset(b, 0x5a, len);
	for (int64_t i = 0; i < cnt; i++) {
		if (pos)
			r = RS(wr ? SYS_pwrite64 : SYS_pread64, fd, L(b), len, off + i * len);
		else
			r = RS(wr ? SYS_write : SYS_read, fd, L(b), len);
		if (r > 0)
			total += r;
		if (r != len)
			break;
	}
	if (m)
		RS(SYS_munmap, m, len);
	put_ret(o, r);
	put_kv(o, "total", total);
}
static void op_read(struct ctx *x, struct cmd *c, struct buf *o) { rw(x, c, o, 0, 0); }
static void op_write(struct ctx *x, struct cmd *c, struct buf *o) { rw(x, c, o, 1, 0); }
static void op_pread(struct ctx *x, struct cmd *c, struct buf *o) { rw(x, c, o, 0, 1); }
static void op_pwrite(struct ctx *x, struct cmd *c, struct buf *o) { rw(x, c, o, 1, 1); }

struct rlim64 { uint64_t cur, max; };

/* "RES:soft:hard" (spawn's rlimit=) */
static long set_rlimit_spec(const char *s)
{
	const char *a = strchr(s, ':'), *b = a ? strchr(a + 1, ':') : NULL;
	int64_t res, soft, hard;
	if (!b || parse_intn(s, a - s, &res) || parse_intn(a + 1, b - a - 1, &soft) ||
	    parse_int(b + 1, &hard))
		return -EINVAL;
	struct rlim64 rl = { (uint64_t)soft, (uint64_t)hard };
	return RS(SYS_prlimit64, 0, res, L(&rl), 0);
}

static void op_setrlimit(struct ctx *x, struct cmd *c, struct buf *o)
{
	int64_t res, soft, hard;
	(void)x;
	if (argi(c, "res", &res) != 1 || argi(c, "soft", &soft) != 1 || argi(c, "hard", &hard) != 1) {
		fail(o, "bad-arg", "res/soft/hard");
		return;
	}
	struct rlim64 rl = { (uint64_t)soft, (uint64_t)hard };
	put_ret(o, RS(SYS_prlimit64, 0, res, L(&rl), 0));
}

static void op_getrlimit(struct ctx *x, struct cmd *c, struct buf *o)
{
	int64_t res;
	struct rlim64 rl = { 0, 0 };
	(void)x;
	if (argi(c, "res", &res) != 1) {
		fail(o, "bad-arg", "res");
		return;
	}
	long r = RS(SYS_prlimit64, 0, res, 0, L(&rl));
	put_ret(o, r);
	if (r == 0) {
		put_key(o, "buf");
		put_hex(o, (unsigned char *)&rl, sizeof rl);
	}
}

static void op_readfile(struct ctx *x, struct cmd *c, struct buf *o)
{
	const char *path = arg(c, "path", NULL);
	if (!path) {
		fail(o, "bad-arg", "path");
		return;
	}
	long n = read_file(path, x->data, DATA_MAX);
	put_ret(o, n);
	if (n >= 0) {
		put_key(o, "text");
		put_enc(o, x->data, n);
	}
}

static void op_writefile(struct ctx *x, struct cmd *c, struct buf *o)
{
	size_t n = 0;
	const char *path = arg(c, "path", NULL), *text = arg(c, "text", &n);
	(void)x;
	if (!path || !text) {
		fail(o, "bad-arg", "path/text");
		return;
	}
	put_ret(o, write_file(path, text, n));
}

/* ls: the names in a directory but . and .., sorted by strcmp, joined by '\n'. */
static void op_ls(struct ctx *x, struct cmd *c, struct buf *o)
{
	const char *path = arg(c, "path", NULL);
	char dbuf[4096];
	size_t used = 0;
	long n = 0, r, fd;
	if (!path) {
		fail(o, "bad-arg", "path");
		return;
	}
	if ((fd = RS(SYS_openat, AT_FDCWD, L(path), O_RDONLY | O_DIRECTORY, 0)) < 0) {
		put_ret(o, fd);
		return;
	}
	while ((r = RS(SYS_getdents64, fd, L(dbuf), sizeof dbuf)) > 0) {
		for (long p = 0; p < r;) {
			struct { uint64_t ino; int64_t off; unsigned short reclen; unsigned char type;
				 char name[]; } *d = (void *)(dbuf + p);
			size_t l = strlen(d->name) + 1;
			p += d->reclen;
			if (!strcmp(d->name, ".") || !strcmp(d->name, "..") || n == NPTR ||
			    used + l > DATA_MAX)
				continue;
			x->ptrs[n++] = memcpy(x->data + used, d->name, l);
			used += l;
		}
	}
	RS(SYS_close, fd);
	if (r < 0) {
		put_ret(o, r);
		return;
	}
	for (long gap = n / 2; gap > 0; gap /= 2) /* shell sort */
		for (long i = gap; i < n; i++)
			for (long j = i; j >= gap && strcmp(x->ptrs[j - gap], x->ptrs[j]) > 0; j -= gap) {
				char *t = x->ptrs[j];
				x->ptrs[j] = x->ptrs[j - gap];
				x->ptrs[j - gap] = t;
			}
	put_ret(o, n);
	put_key(o, "text");
	for (long i = 0; i < n; i++) {
		if (i)
			put_enc(o, "\n", 1);
		put_enc(o, x->ptrs[i], strlen(x->ptrs[i]));
	}
}

/* ioctl: arg=none | int:V | buf:HEX with patch=OFF:SIZE:VALUE (little-endian). */
static void op_ioctl(struct ctx *x, struct cmd *c, struct buf *o)
{
	int64_t fd, req, v;
	const char *a = arg(c, "arg", NULL);
	if (argi(c, "fd", &fd) != 1 || argi(c, "req", &req) != 1) {
		fail(o, "bad-arg", "fd/req");
		return;
	}
	if (!a || !strcmp(a, "none")) {
		put_ret(o, RS(SYS_ioctl, fd, req, 0));
		return;
	}
	if (!strncmp(a, "int:", 4)) {
		if (parse_int(a + 4, &v)) {
			fail(o, "bad-arg", "arg");
			return;
		}
		put_ret(o, RS(SYS_ioctl, fd, req, v));
		return;
	}
	if (strncmp(a, "buf:", 4) || strlen(a) % 2 || strlen(a) - 4 > 2 * DATA_MAX) {
		fail(o, "bad-arg", "arg");
		return;
	}
	size_t n = (strlen(a) - 4) / 2, zero = n < 65536 ? 65536 : n;
	unsigned char *b = (unsigned char *)x->data;
	memset(b, 0, zero);
	for (size_t i = 0; i < n; i++) {
		int h = hexval(a[4 + 2 * i]), l = hexval(a[5 + 2 * i]);
		if (h < 0 || l < 0) {
			fail(o, "bad-arg", "arg");
			return;
		}
		b[i] = (unsigned char)(h * 16 + l);
	}
	for (int i = 0; i < c->n; i++) {
		if (strcmp(c->k[i], "patch"))
			continue;
		const char *s = c->v[i], *p = strchr(s, ':'), *q = p ? strchr(p + 1, ':') : NULL;
		int64_t off, size;
		if (!q || parse_intn(s, p - s, &off) || parse_intn(p + 1, q - p - 1, &size) ||
		    parse_int(q + 1, &v) || off < 0 || size < 1 || size > 8 ||
		    (size_t)(off + size) > zero) {
			fail(o, "bad-arg", "patch");
			return;
		}
		for (int64_t k = 0; k < size; k++)
			b[off + k] = (unsigned char)((uint64_t)v >> (8 * k));
	}
	put_ret(o, RS(SYS_ioctl, fd, req, L(b)));
	put_key(o, "buf");
	put_hex(o, b, n);
}

static void op_touch(struct ctx *x, struct cmd *c, struct buf *o)
{
	int64_t addr, len;
	(void)x;
	if (argi(c, "addr", &addr) != 1 || argi(c, "len", &len) != 1) {
		fail(o, "bad-arg", "addr/len");
		return;
	}
	for (int64_t p = addr; p < addr + len; p += 4096)
		*(volatile char *)p = 1;
	put_ret(o, 0);
}

/*
 * io_uring: a ring per io_uring fd of the process (threads share them, as they share the
 * fd table), found by its fd. The rings are mmap'ed as liburing maps them; SQEs are
 * written at the SQ tail and CQEs read at the CQ head with the same barriers liburing uses.
 */
#define MAX_RINGS 16
#define URING_WAIT_MS 10000 /* a waiting uring_submit gives up here: under the 20 s reply */

static struct uring {
	int fd, used;
	unsigned sq_entries, cq_entries, sqe_size, cqe_size;
	unsigned *sq_head, *sq_tail, *sq_mask, *sq_array, *cq_head, *cq_tail, *cq_mask;
	char *sqes, *cqes;
	void *sq_map, *cq_map, *sqe_map;
	size_t sq_len, cq_len, sqe_len;
} g_rings[MAX_RINGS];

struct uparams {
	uint32_t sq_entries, cq_entries, flags, sq_thread_cpu, sq_thread_idle, features, wq_fd,
		resv[3];
	uint32_t sq_off[10]; /* head tail ring_mask ring_entries flags dropped array resv1 resv2(u64) */
	uint32_t cq_off[10]; /* head tail ring_mask ring_entries overflow cqes flags resv1 resv2(u64) */
};

static struct uring *uring_find(int64_t fd)
{
	for (int i = 0; i < MAX_RINGS; i++)
		if (g_rings[i].used && g_rings[i].fd == fd)
			return &g_rings[i];
	return NULL;
}

static void uring_unmap(struct uring *u)
{
	if (u->sq_map)
		RS(SYS_munmap, L(u->sq_map), u->sq_len);
	if (u->cq_map && u->cq_map != u->sq_map)
		RS(SYS_munmap, L(u->cq_map), u->cq_len);
	if (u->sqe_map)
		RS(SYS_munmap, L(u->sqe_map), u->sqe_len);
	memset(u, 0, sizeof *u);
}

static long uring_mmap(int fd, size_t len, long off, void **p)
{
	long m = RS(SYS_mmap, 0, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, off);
	if (m < 0 && m >= -4095)
		return m;
	*p = (void *)m;
	return 0;
}

/* uring_setup: entries, flags (IORING_SETUP_*): the fd; buf= sq_entries, cq_entries, features */
static void op_uring_setup(struct ctx *x, struct cmd *c, struct buf *o)
{
	int64_t entries, flags = 0;
	struct uparams p;
	(void)x;
	if (argi(c, "entries", &entries) != 1 || argi(c, "flags", &flags) < 0) {
		fail(o, "bad-arg", "entries/flags");
		return;
	}
	memset(&p, 0, sizeof p);
	p.flags = (uint32_t)flags;
	long fd = RS(425 /* SYS_io_uring_setup */, entries, L(&p));
	if (fd < 0) {
		put_ret(o, fd);
		return;
	}
	struct uring *u = uring_find(fd); /* a stale ring of a closed fd (or of our parent) */
	if (u)
		uring_unmap(u);
	for (int i = 0; !u && i < MAX_RINGS; i++)
		if (!g_rings[i].used)
			u = &g_rings[i];
	if (!u) {
		RS(SYS_close, fd);
		fail(o, "too-many-rings", NULL);
		return;
	}
	u->sqe_size = flags & (1 << 10) ? 128 : 64; /* IORING_SETUP_SQE128 */
	u->cqe_size = flags & (1 << 11) ? 32 : 16;  /* IORING_SETUP_CQE32 */
	u->sq_len = p.sq_off[6] + p.sq_entries * 4;
	u->cq_len = p.cq_off[5] + p.cq_entries * u->cqe_size;
	u->sqe_len = p.sq_entries * u->sqe_size;
	long r;
	if (p.features & 1) { /* IORING_FEAT_SINGLE_MMAP */
		if (u->cq_len > u->sq_len)
			u->sq_len = u->cq_len;
		u->cq_len = u->sq_len;
		r = uring_mmap(fd, u->sq_len, 0, &u->sq_map);
		u->cq_map = u->sq_map;
	} else {
		r = uring_mmap(fd, u->sq_len, 0, &u->sq_map);
		if (!r)
			r = uring_mmap(fd, u->cq_len, 0x8000000L, &u->cq_map);
	}
	if (!r)
		r = uring_mmap(fd, u->sqe_len, 0x10000000L, &u->sqe_map);
	if (r) {
		uring_unmap(u);
		RS(SYS_close, fd);
		put_ret(o, r);
		return;
	}
	char *sq = u->sq_map, *cq = u->cq_map;
	u->used = 1;
	u->fd = (int)fd;
	u->sq_entries = p.sq_entries;
	u->cq_entries = p.cq_entries;
	u->sq_head = (unsigned *)(sq + p.sq_off[0]);
	u->sq_tail = (unsigned *)(sq + p.sq_off[1]);
	u->sq_mask = (unsigned *)(sq + p.sq_off[2]);
	u->sq_array = (unsigned *)(sq + p.sq_off[6]);
	u->cq_head = (unsigned *)(cq + p.cq_off[0]);
	u->cq_tail = (unsigned *)(cq + p.cq_off[1]);
	u->cq_mask = (unsigned *)(cq + p.cq_off[2]);
	u->cqes = cq + p.cq_off[5];
	u->sqes = u->sqe_map;
	put_ret(o, fd);
	uint32_t rec[3] = { p.sq_entries, p.cq_entries, p.features };
	put_key(o, "buf");
	put_hex(o, (unsigned char *)rec, sizeof rec);
}

/*
 * uring_submit: ring, opc, fd, len, off, count, flags (sqe->flags), wait. `count` SQEs
 * (offsets off, off+len, ...; write data 0x5a), one io_uring_enter; with wait=1 it waits
 * (IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, 10 s at most) for `count` CQEs in the CQ
 * ring, then reaps every CQE there: total= how many, cqe=RES:N,... per distinct res.
 */
static void op_uring_submit(struct ctx *x, struct cmd *c, struct buf *o)
{
	int64_t ring, opc, fd = -1, len = 0, off = 0, cnt = 1, fl = 0, wait = 0;
	if (argi(c, "ring", &ring) != 1 || argi(c, "opc", &opc) != 1 || argi(c, "fd", &fd) < 0 ||
	    argi(c, "len", &len) < 0 || argi(c, "off", &off) < 0 || argi(c, "count", &cnt) < 0 ||
	    argi(c, "flags", &fl) < 0 || argi(c, "wait", &wait) < 0 || len < 0 || len > DATA_MAX ||
	    cnt < 0) {
		fail(o, "bad-arg", "ring/opc/fd/len/off/count/flags/wait");
		return;
	}
	struct uring *u = uring_find(ring);
	if (!u) {
		fail(o, "bad-arg", "ring");
		return;
	}
	unsigned head = __atomic_load_n(u->sq_head, __ATOMIC_ACQUIRE), tail = *u->sq_tail;
	if ((uint64_t)cnt > u->sq_entries - (tail - head)) {
		fail(o, "bad-arg", "count");
		return;
	}
	memset(x->data, 0x5a, len);
	for (int64_t i = 0; i < cnt; i++, tail++) {
		unsigned idx = tail & *u->sq_mask;
		unsigned char *s = (unsigned char *)u->sqes + (size_t)idx * u->sqe_size;
		memset(s, 0, u->sqe_size);
		s[0] = (unsigned char)opc;                       /* opcode */
		s[1] = (unsigned char)fl;                        /* flags */
		*(int32_t *)(s + 4) = (int32_t)fd;               /* fd */
		*(uint64_t *)(s + 8) = (uint64_t)(off < 0 ? off : off + i * len); /* off */
		*(uint64_t *)(s + 16) = (uint64_t)(uintptr_t)x->data; /* addr */
		*(uint32_t *)(s + 24) = (uint32_t)len;           /* len */
		*(uint64_t *)(s + 32) = (uint64_t)(i + 1);       /* user_data */
		u->sq_array[idx] = idx;
	}
	__atomic_store_n(u->sq_tail, tail, __ATOMIC_RELEASE);
	struct { uint64_t sigmask; uint32_t sigmask_sz, pad; uint64_t ts; } ga = { 0, 0, 0, 0 };
	struct { int64_t sec, nsec; } ts = { URING_WAIT_MS / 1000, 0 };
	ga.ts = (uint64_t)(uintptr_t)&ts;
	long r = wait ? RS(426, ring, cnt, cnt, 1 | 8 /* GETEVENTS | EXT_ARG */, L(&ga), sizeof ga)
		      : RS(426, ring, cnt, 0, 0, 0, 0);
	put_ret(o, r);
	if (!wait)
		return;
	int32_t res[64];
	long n[64], total = 0;
	int nd = 0;
	unsigned ch = *u->cq_head, ct = __atomic_load_n(u->cq_tail, __ATOMIC_ACQUIRE);
	for (; ch != ct; ch++, total++) {
		int32_t v = *(int32_t *)(u->cqes + (size_t)(ch & *u->cq_mask) * u->cqe_size + 8);
		int k = 0;
		while (k < nd && res[k] != v)
			k++;
		if (k == nd && nd < 64) {
			res[nd] = v;
			n[nd++] = 0;
		}
		if (k < nd)
			n[k]++;
	}
	__atomic_store_n(u->cq_head, ch, __ATOMIC_RELEASE);
	put_kv(o, "total", total);
	put_key(o, "cqe");
	for (int k = 0; k < nd; k++) {
		if (k)
			put(o, ",", 1);
		put_i64(o, res[k]);
		put(o, ":", 1);
		put_i64(o, n[k]);
	}
}

/* uring_register_max_workers: ring, bounded, unbounded: ret; buf= the two u32 written back */
static void op_uring_max_workers(struct ctx *x, struct cmd *c, struct buf *o)
{
	int64_t ring, b, ub;
	(void)x;
	if (argi(c, "ring", &ring) != 1 || argi(c, "bounded", &b) != 1 || argi(c, "unbounded", &ub) != 1) {
		fail(o, "bad-arg", "ring/bounded/unbounded");
		return;
	}
	uint32_t a[2] = { (uint32_t)b, (uint32_t)ub };
	long r = RS(427 /* SYS_io_uring_register */, ring, 19 /* IORING_REGISTER_IOWQ_MAX_WORKERS */,
		    L(a), 2);
	put_ret(o, r);
	if (r == 0) {
		put_key(o, "buf");
		put_hex(o, (unsigned char *)a, sizeof a);
	}
}

/*
 * The ops that are one system call: each argument is "=N" (a constant), "key" (an
 * integer), "key?N" (an integer, N when absent), "@key" (a string), "@key?" (a string,
 * NULL when absent).
 */
static const struct sysop { const char *name; long nr; const char *a[6]; } sysops[] = {
	{ "open", SYS_openat, { "=-100", "@path", "flags?0", "mode?0" } }, /* AT_FDCWD */
	{ "close", SYS_close, { "fd" } },
	{ "dup", SYS_dup, { "fd" } },
	{ "fsync", SYS_fsync, { "fd" } },
	{ "ftruncate", SYS_ftruncate, { "fd", "size" } },
	{ "unlink", SYS_unlinkat, { "=-100", "@path", "=0" } },
	{ "rmdir", SYS_unlinkat, { "=-100", "@path", "=512" } },          /* AT_REMOVEDIR */
	{ "mkdir", SYS_mkdirat, { "=-100", "@path", "mode?493" } },        /* 0755 */
	{ "mount", SYS_mount, { "@source?", "@target", "@fstype?", "=0", "@data?" } },
	{ "umount", SYS_umount2, { "@target", "=0" } },
	{ "kill", SYS_kill, { "pid", "sig" } },
	{ "setresuid", SYS_setresuid, { "r", "e", "s" } },
	{ "setresgid", SYS_setresgid, { "r", "e", "s" } },
	{ "ioprio_get", SYS_ioprio_get, { "which", "who" } },
	{ "ioprio_set", SYS_ioprio_set, { "which", "who", "prio" } },
	/* PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS */
	{ "mmap", SYS_mmap, { "=0", "len", "=3", "=34", "=-1", "=0" } },
	{ "eventfd", SYS_eventfd2, { "init", "=0" } },
};

static void run_sysop(const struct sysop *s, struct cmd *c, struct buf *o)
{
	long a[6] = { 0 };
	for (int i = 0; i < 6 && s->a[i]; i++) {
		const char *d = s->a[i], *q;
		char key[32];
		int64_t v = 0;
		if (*d == '=') {
			parse_int(d + 1, &v);
			a[i] = v;
			continue;
		}
		int str = *d == '@';
		d += str;
		q = strchr(d, '?');
		size_t kl = q ? (size_t)(q - d) : strlen(d);
		memcpy(key, d, kl);
		key[kl] = 0;
		int r = 1;
		if (str) {
			const char *sv = arg(c, key, NULL);
			r = sv || q ? 1 : 0;
			a[i] = L(sv);
		} else {
			r = argi(c, key, &v);
			if (r == 0 && q)
				r = !parse_int(q + 1, &v);
			a[i] = v;
		}
		if (r != 1) {
			fail(o, "bad-arg", key);
			return;
		}
	}
	put_ret(o, rsys_(s->nr, a[0], a[1], a[2], a[3], a[4], a[5]));
}

static const struct { const char *name; opfn *fn; } taskops[] = {
	{ "fork", op_fork }, { "thread", op_thread }, { "busy", op_busy }, { "exit", op_exit }, { "wait", op_wait },
	{ "read", op_read }, { "write", op_write }, { "pread", op_pread }, { "pwrite", op_pwrite },
	{ "setrlimit", op_setrlimit }, { "getrlimit", op_getrlimit }, { "readfile", op_readfile },
	{ "writefile", op_writefile }, { "ls", op_ls }, { "ioctl", op_ioctl }, { "touch", op_touch },
	{ "uring_setup", op_uring_setup }, { "uring_submit", op_uring_submit },
	{ "uring_register_max_workers", op_uring_max_workers },
};

static void run_op(struct ctx *x, struct cmd *c, struct buf *o)
{
	for (size_t i = 0; i < sizeof taskops / sizeof taskops[0]; i++)
		if (!strcmp(c->op, taskops[i].name)) {
			taskops[i].fn(x, c, o);
			return;
		}
	for (size_t i = 0; i < sizeof sysops / sizeof sysops[0]; i++)
		if (!strcmp(c->op, sysops[i].name)) {
			run_sysop(&sysops[i], c, o);
			return;
		}
	fail(o, "unknown-op", c->op);
}

/* ---- spawn's child: cgroup, rlimits, comm, credentials, then serve ---- */

static void pjoin(char *d, size_t cap, const char *a, size_t al, const char *b)
{
	size_t bl = strlen(b);
	if (al + bl + 1 > cap)
		al = bl = 0;
	memmove(d, a, al);
	memcpy(d + al, b, bl + 1);
}

/* Write the parent's enabled controllers ("cpu io" -> "+cpu +io") to a new cgroup. */
static long copy_subtree(const char *dir, size_t parent_len)
{
	char path[600], in[512], out[1100];
	size_t n = 0;
	pjoin(path, sizeof path, dir, parent_len, "/cgroup.subtree_control");
	long r = read_file(path, in, sizeof in - 1);
	if (r < 0)
		return r;
	in[r] = 0;
	for (char *s = in; *s;) {
		while (*s == ' ' || *s == '\n')
			s++;
		if (!*s)
			break;
		if (n)
			out[n++] = ' ';
		out[n++] = '+';
		while (*s && *s != ' ' && *s != '\n')
			out[n++] = *s++;
	}
	if (!n)
		return 0;
	pjoin(path, sizeof path, dir, strlen(dir), "/cgroup.subtree_control");
	r = write_file(path, out, n);
	return r < 0 ? r : 0;
}

/* mkdir -p /sys/fs/cgroup/REL (new intermediates get the parent's controllers), enter it. */
static long cg_enter(const char *rel)
{
	char p[520] = "/sys/fs/cgroup", num[24];
	size_t n = strlen(p);
	const char *s = rel;
	long r;
	for (;;) {
		while (*s == '/')
			s++;
		if (!*s)
			break;
		const char *e = strchr(s, '/');
		size_t l = e ? (size_t)(e - s) : strlen(s), parent = n;
		if (n + 1 + l + 1 > 500)
			return -ENAMETOOLONG;
		p[n++] = '/';
		memcpy(p + n, s, l);
		p[n += l] = 0;
		s += l;
		r = RS(SYS_mkdirat, AT_FDCWD, L(p), 0755);
		if (r == -EEXIST)
			continue;
		if (r < 0)
			return r;
		const char *rest = s;
		while (*rest == '/')
			rest++;
		if (*rest && (r = copy_subtree(p, parent)) < 0) /* an intermediate, not the leaf */
			return r;
	}
	struct buf b = { num, 0, sizeof num };
	put_i64(&b, RS(SYS_getpid));
	pjoin(p, sizeof p, p, n, "/cgroup.procs");
	r = write_file(p, num, b.n);
	return r < 0 ? r : 0;
}

static void __attribute__((noreturn)) spawn_child(struct cmd *c, const char *as)
{
	const char *cg = arg(c, "cgroup", NULL), *comm = arg(c, "comm", NULL);
	int64_t uid = 0, gid = 0;
	long e = 0;
	close_from(3);
	default_sigalrm();
	/* connect (and map the work area) first: rlimits may forbid both later */
	struct ctx *x = task_start(as, 0);
	if (cg)
		e = cg_enter(cg);
	for (int i = 0; i < c->n && e >= 0; i++)
		if (!strcmp(c->k[i], "rlimit"))
			e = set_rlimit_spec(c->v[i]);
	if (e >= 0 && comm)
		e = RS(SYS_prctl, PR_SET_NAME, L(comm));
	if (argi(c, "uid", &uid) < 0 || argi(c, "gid", &gid) < 0)
		e = -EINVAL;
	if (e >= 0)
		e = RS(SYS_setgroups, 0, 0);
	if (e >= 0)
		e = RS(SYS_setresgid, gid, gid, gid);
	if (e >= 0)
		e = RS(SYS_setresuid, uid, uid, uid);
	if (e < 0) {
		say(x, "fail", e);
		quit(0, 1);
	}
	serve(x);
}

/* ==== the executor (init): everything below runs only in the executor's own thread ==== */

static int g_out = 1, g_listen = -1, g_cleanup = 1;
static struct ctx *g_init;              /* init's work area (init runs task ops itself) */
static struct buf g_rec;                /* the current step's reply */
static const char *g_idx = "-1";        /* the current step's index, for thr lines */
static struct task { char name[64]; int fd; long tid; int gone; } g_tasks[MAX_TASKS];
static int g_ntasks;
static struct { char name[64]; int64_t v; } g_binds[MAX_BINDS];
static int g_nbinds;
static struct { char kind; char path[512]; } g_undo[MAX_UNDO]; /* 'm'ount 'f'ile 'd'ir */
static int g_nundo;
static unsigned char g_loop0[MAX_LOOP]; /* at start: 1 present, 2 bound */
static char *g_klast;                   /* the last kernel log line dmesg has seen */

static char *g_line;                    /* one output line is built here */
static timer_t g_timer;                 /* SIGALRM to the executor's thread: init's timeout */
static volatile sig_atomic_t g_alarm;

static void on_alarm(int sig)
{
	(void)sig;
	g_alarm = 1;
}

/* Init's own step, with the 20 s a task gets: a blocking call (wait for a live child, a
 * KVM_RUN that does not return) is interrupted and the step says error=timeout. */
static void run_init_op(struct cmd *c, struct buf *o)
{
	struct itimerspec on = { { 0, 0 }, { REPLY_MS / 1000, 0 } }, off = { { 0, 0 }, { 0, 0 } };
	g_alarm = 0;
	timer_settime(g_timer, 0, &on, NULL);
	run_op(g_init, c, o);
	timer_settime(g_timer, 0, &off, NULL);
	if (g_alarm)
		fail(o, "timeout", NULL);
}

/* One output line: a, then bn bytes of b, then '\n', in one write. */
static void out_line(const char *a, const char *b, size_t bn)
{
	size_t an = strlen(a);
	memcpy(g_line, a, an);
	memcpy(g_line + an, b, bn);
	g_line[an + bn] = '\n';
	write_all(g_out, g_line, an + bn + 1, 0);
}
static void emits(const char *a, const char *b) { out_line(a, b, strlen(b)); }

/* The step's record: "@@ IDX " and the reply. */
static void record(const char *idx, const struct buf *o)
{
	char head[64];
	snprintf(head, sizeof head, "@@ %s ", idx);
	out_line(head, o->p, o->n);
}

static void undo_add(char kind, const char *path)
{
	if (g_nundo < MAX_UNDO && strlen(path) < sizeof g_undo[0].path) {
		g_undo[g_nundo].kind = kind;
		strcpy(g_undo[g_nundo++].path, path);
	}
}

static int bind_get(const char *name, int64_t *v)
{
	for (int i = g_nbinds - 1; i >= 0; i--)
		if (!strcmp(g_binds[i].name, name)) {
			*v = g_binds[i].v;
			return 1;
		}
	return 0;
}

static void bind_set(const char *name, int64_t v)
{
	if (g_nbinds < MAX_BINDS && strlen(name) < sizeof g_binds[0].name) {
		strcpy(g_binds[g_nbinds].name, name);
		g_binds[g_nbinds++].v = v;
	}
}

/* The keys whose values are strings: every other value is an integer and may be `$name`. */
static int string_key(const char *k)
{
	static const char *const keys[] = { "task", "as", "path", "text", "comm", "cgroup",
					    "source", "target", "fstype", "data" };
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		if (!strcmp(k, keys[i]))
			return 1;
	return 0;
}

/*
 * Replace each reference in c's (decoded) integer values by its number: a value `$name`,
 * or a last `:` field `$name` (arg=int:$fd, patch=0:4:$fd). New values go to pool.
 * Returns NULL, or the unbound name.
 */
static const char *resolve(struct cmd *c, char *pool)
{
	for (int i = 0; i < c->n; i++) {
		char *v = c->v[i], *colon = strrchr(v, ':'), *ref = colon ? colon + 1 : v;
		int64_t n;
		if (string_key(c->k[i]) || *ref != '$')
			continue;
		if (!bind_get(ref + 1, &n))
			return ref + 1;
		size_t pl = ref - v;
		memcpy(pool, v, pl);
		c->v[i] = pool;
		c->vl[i] = pl + sprintf(pool + pl, "%lld", (long long)n);
		pool += c->vl[i] + 1;
	}
	return NULL;
}

/* The step as a command line for a task: idx op key=value..., values encoded again. */
static void encode_cmd(const struct cmd *c, struct buf *b)
{
	b->n = 0;
	puts_(b, c->idx);
	put(b, " ", 1);
	puts_(b, c->op);
	for (int i = 0; i < c->n; i++) {
		put_key(b, c->k[i]);
		put_enc(b, c->v[i], c->vl[i]);
	}
	put(b, "\n", 1);
}

/* 1 if /proc/PID/stat exists and its state is not Z, X or x */
static int alive(long pid)
{
	char path[64], st[1024];
	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	long n = read_file(path, st, sizeof st - 1);
	if (n <= 0)
		return 0;
	st[n] = 0;
	char *p = strrchr(st, ')');
	return p && p[1] && !strchr("ZXx", p[2]);
}

static void wait_dead(long pid)
{
	for (long end = now_ms() + DEAD_MS; alive(pid) && now_ms() < end;)
		sleep_ms(10);
}

/* Wait (up to ms) for one line on fd into b: 1 a line, 0 EOF, -1 timeout. */
static int recv_line(int fd, struct buf *b, long ms)
{
	long end = now_ms() + ms;
	b->n = 0;
	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		long left = end - now_ms();
		int pr = poll(&p, 1, left > 0 ? left : 0);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0)
			return -1;
		ssize_t r = read(fd, b->p + b->n, b->cap - b->n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return 0;
		b->n += r;
		if (b->p[b->n - 1] == '\n') {
			b->n--;
			return 1;
		}
		if (b->n == b->cap)
			b->n = 0; /* cannot happen: a reply fits; drop rather than overflow */
	}
}

/* Accept the connection of the new task NAME: its fd (hello, *tid set), -2 when the
 * child reported a failure (*err set), -1 on timeout. */
static int accept_task(const char *name, long *tid, long *err)
{
	char want[256], line[512];
	struct buf w = { want, 0, sizeof want - 1 }, b = { line, 0, sizeof line - 1 };
	long end = now_ms() + REPLY_MS;
	put_enc(&w, name, strlen(name));
	want[w.n] = 0;
	for (;;) {
		struct pollfd p = { g_listen, POLLIN, 0 };
		long left = end - now_ms();
		if (left <= 0 || poll(&p, 1, left) <= 0)
			return -1;
		int s = accept4(g_listen, NULL, NULL, SOCK_CLOEXEC);
		if (s < 0)
			continue;
		int fd = fcntl(s, F_DUPFD_CLOEXEC, HIGH_FD);
		close(s);
		if (fd < 0)
			continue;
		if (recv_line(fd, &b, end - now_ms()) == 1) {
			char word[8], nm[256];
			long v;
			line[b.n] = 0;
			if (sscanf(line, "%7s %255s %ld", word, nm, &v) == 3 && !strcmp(nm, want)) {
				if (!strcmp(word, "hello")) {
					*tid = v;
					return fd;
				}
				*err = v;
				close(fd);
				return -2;
			}
		}
		close(fd);
	}
}

static void add_task(const char *name, int fd, long tid)
{
	if (g_ntasks == MAX_TASKS) {
		close(fd);
		return;
	}
	struct task *t = &g_tasks[g_ntasks++];
	snprintf(t->name, sizeof t->name, "%s", name);
	t->fd = fd;
	t->tid = tid;
	t->gone = 0;
}

static struct task *find_task(const char *name)
{
	for (int i = g_ntasks - 1; i >= 0; i--)
		if (!strcmp(g_tasks[i].name, name))
			return &g_tasks[i];
	return NULL;
}

/* The task's end of the connection is closed (the task is dead or exited). */
static int conn_closed(int fd)
{
	char c;
	ssize_t r = recv(fd, &c, 1, MSG_DONTWAIT | MSG_PEEK);
	return r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

static void task_gone(struct task *t)
{
	t->gone = 1;
	close(t->fd);
	t->fd = -1;
}

/* Send a resolved step line to task t and put its reply (or what happened) in o. */
static void call_task(struct task *t, const char *line, size_t n, struct buf *o, int is_exit)
{
	if (!t->gone && conn_closed(t->fd)) /* it died before this step */
		task_gone(t);
	if (t->gone) {
		fail(o, "gone", NULL);
		return;
	}
	long w = write_all(t->fd, line, n, 1);
	int r = w < 0 ? 0 : recv_line(t->fd, o, REPLY_MS);
	if (r < 0) {
		t->gone = 1; /* hung: never talk to it again (cleanup kills it) */
		fail(o, "timeout", NULL);
	} else if (r == 0) {
		o->n = 0;
		if (is_exit)
			put_ret(o, 0);
		else
			put_kv(o, "killed", 1);
		task_gone(t);
		wait_dead(t->tid);
	}
}

/* ---- executor-only ops ---- */

static void x_spawn(struct cmd *c, struct buf *o)
{
	const char *as = arg(c, "as", NULL), *cg = arg(c, "cgroup", NULL);
	char newdirs[16][520];
	int nnew = 0;
	long tid = 0, err = 0;
	if (!as) {
		fail(o, "bad-arg", "as");
		return;
	}
	if (cg) { /* the cgroups the child will create, to undo them at the script's end */
		char p[520];
		int n = snprintf(p, sizeof p, "/sys/fs/cgroup/%s", cg + strspn(cg, "/"));
		for (int i = strlen("/sys/fs/cgroup/"); i < n && nnew < 16; i++)
			if (p[i] != '/' && (p[i + 1] == '/' || !p[i + 1])) {
				snprintf(newdirs[nnew], sizeof newdirs[0], "%.*s", i + 1, p);
				if (access(newdirs[nnew], F_OK))
					nnew++;
			}
	}
	long pid = RS(SYS_clone, SIGCHLD, 0, 0, 0, 0);
	if (pid == 0)
		spawn_child(c, as);
	if (pid < 0) {
		put_ret(o, pid);
		return;
	}
	int fd = accept_task(as, &tid, &err);
	for (int i = 0; i < nnew; i++)
		if (!access(newdirs[i], F_OK))
			undo_add('d', newdirs[i]);
	if (fd >= 0) {
		add_task(as, fd, pid);
		put_ret(o, pid);
		return;
	}
	if (fd == -2)
		put_ret(o, err);
	else {
		kill(pid, SIGKILL);
		fail(o, "no-hello", NULL);
	}
	waitpid(pid, NULL, 0);
}

static void x_alive(struct cmd *c, struct buf *o)
{
	int64_t pid;
	if (argi(c, "pid", &pid) != 1)
		fail(o, "bad-arg", "pid");
	else
		put_ret(o, alive(pid));
}

static void x_sleep(struct cmd *c, struct buf *o)
{
	int64_t ms;
	if (argi(c, "ms", &ms) != 1)
		fail(o, "bad-arg", "ms");
	else {
		sleep_ms(ms);
		put_ret(o, 0);
	}
}

/* The numeric entries of a directory (pids or tids); count or -errno. */
static int list_nums(const char *path, long *out, int cap)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;
	if (!d)
		return -errno;
	while ((e = readdir(d)) && n < cap)
		if (e->d_name[0] >= '0' && e->d_name[0] <= '9')
			out[n++] = atol(e->d_name);
	closedir(d);
	return n;
}

struct thr { long tid; char line[700]; };
static struct thr g_thr[MAX_THR];

static int thr_cmp(const void *a, const void *b)
{
	long x = ((const struct thr *)a)->tid, y = ((const struct thr *)b)->tid;
	return x < y ? -1 : x > y;
}

/* A thr line for /proc/PID/task/TID; 0 when it is gone or its comm is not `comm`. */
static int thr_info(long pid, long tid, const char *comm, struct thr *t)
{
	char path[96], st[1024], status[4096], cg[4096], *p, *q;
	long n;
	snprintf(path, sizeof path, "/proc/%ld/task/%ld/stat", pid, tid);
	if ((n = read_file(path, st, sizeof st - 1)) <= 0)
		return 0;
	st[n] = 0;
	if (!(p = strchr(st, '(')) || !(q = strrchr(st, ')')))
		return 0;
	*q = 0;
	if (comm && strcmp(p + 1, comm))
		return 0;
	long ppid = 0, tgid = 0;
	unsigned long flags = 0;
	sscanf(q + 2, "%*c %ld %*d %*d %*d %*d %lu", &ppid, &flags);
	snprintf(path, sizeof path, "/proc/%ld/task/%ld/status", pid, tid);
	n = read_file(path, status, sizeof status - 1);
	status[n > 0 ? n : 0] = 0;
	if ((q = strstr(status, "\nTgid:")))
		tgid = atol(q + 6);
	snprintf(path, sizeof path, "/proc/%ld/task/%ld/cgroup", pid, tid);
	n = read_file(path, cg, sizeof cg - 1);
	cg[n > 0 ? n : 0] = 0;
	char *c0 = !strncmp(cg, "0::", 3) ? cg + 3 : strstr(cg, "\n0::");
	if (c0 && c0 != cg + 3)
		c0 += 4;
	if (!c0)
		c0 = cg + strlen(cg);
	c0[strcspn(c0, "\n")] = 0;
	struct buf b = { t->line, 0, sizeof t->line - 1 };
	t->tid = tid;
	b.n = snprintf(t->line, sizeof t->line, "tid=%ld tgid=%ld ppid=%ld flags=0x%lx", tid, tgid,
		       ppid, flags);
	put_key(&b, "comm");
	put_enc(&b, p + 1, strlen(p + 1));
	put_key(&b, "cgroup");
	put_enc(&b, c0, strlen(c0));
	t->line[b.n] = 0;
	return 1;
}

/* threads (pid > 0: that process's threads) or ps (pid 0: every task, or those with comm) */
static void thr_list(long pid, const char *comm, struct buf *o)
{
	static long pids[32768], tids[32768];
	int np = 1, n = 0;
	pids[0] = pid;
	if (!pid && (np = list_nums("/proc", pids, 32768)) < 0)
		np = 0;
	for (int i = 0; i < np; i++) {
		char path[64];
		snprintf(path, sizeof path, "/proc/%ld/task", pids[i]);
		int nt = list_nums(path, tids, 32768);
		if (nt < 0 && pid) {
			put_ret(o, nt);
			return;
		}
		for (int j = 0; j < nt && n < MAX_THR; j++)
			n += thr_info(pids[i], tids[j], comm, &g_thr[n]);
	}
	qsort(g_thr, n, sizeof g_thr[0], thr_cmp);
	for (int i = 0; i < n; i++) {
		char head[64];
		snprintf(head, sizeof head, "@@ %s thr ", g_idx);
		emits(head, g_thr[i].line);
	}
	put_ret(o, n);
}

static void x_threads(struct cmd *c, struct buf *o)
{
	int64_t pid;
	if (argi(c, "pid", &pid) != 1)
		fail(o, "bad-arg", "pid");
	else
		thr_list(pid, NULL, o);
}

static void x_ps(struct cmd *c, struct buf *o)
{
	thr_list(0, arg(c, "comm", NULL), o); /* without comm: every task */
}

/* The kernel log (klogctl READ_ALL), split into lines; NULL on failure. */
static char *klog_read(char ***lines, int *n)
{
	int size = klogctl(SYSLOG_ACTION_SIZE_BUFFER, NULL, 0);
	if (size <= 0)
		size = 1 << 20;
	char *b = malloc(size + 1);
	int r = b ? klogctl(SYSLOG_ACTION_READ_ALL, b, size) : -1;
	if (r < 0) {
		free(b);
		return NULL;
	}
	b[r] = 0;
	*lines = malloc(sizeof(char *) * (r + 2));
	*n = 0;
	for (char *s = b, *e; *s; s = e + 1) {
		e = strchr(s, '\n');
		if (!e)
			e = s + strlen(s) - 1;
		else
			*e = 0;
		(*lines)[(*n)++] = s;
	}
	return b;
}

/* Remember the log's last line: a later dmesg returns only the lines after it. */
static void dmesg_mark(char **lines, int n)
{
	free(g_klast);
	g_klast = n ? strdup(lines[n - 1]) : NULL;
}

static void x_dmesg(struct cmd *c, struct buf *o)
{
	char **lines = NULL, *b;
	int n = 0, from = 0, count = 0;
	(void)c;
	if (!(b = klog_read(&lines, &n))) {
		put_ret(o, -errno);
		return;
	}
	for (int i = n - 1; g_klast && i >= 0; i--)
		if (!strcmp(lines[i], g_klast)) {
			from = i + 1;
			break;
		}
	put_ret(o, n - from);
	put_key(o, "text");
	for (int i = from; i < n; i++) {
		char *s = lines[i];
		if (*s == '<' && strchr(s, '>'))
			s = strchr(s, '>') + 1;
		if (*s == '[' && strchr(s, ']'))
			s = strchr(s, ']') + 1 + (strchr(s, ']')[1] == ' ');
		if (count++)
			put_enc(o, "\n", 1);
		put_enc(o, s, strlen(s));
	}
	dmesg_mark(lines, n);
	free(lines);
	free(b);
}

static const struct { const char *name; void (*fn)(struct cmd *, struct buf *); } execops[] = {
	{ "spawn", x_spawn }, { "alive", x_alive }, { "threads", x_threads },
	{ "ps", x_ps }, { "sleep", x_sleep }, { "dmesg", x_dmesg },
};

/* ---- one step ---- */

static void run_step(const char *line, const char *idx)
{
	size_t len = strlen(line), cap = 3 * len + 64 * MAX_KV + 64;
	char *cp = malloc(len + 1), *pool = malloc(cap), *name;
	struct buf *o = &g_rec, cl = { malloc(cap), 0, cap };
	struct cmd c;
	struct task *t = NULL;
	int64_t ret = 0, v, flags = 0;
	int created = 0;
	o->n = 0;
	strcpy(cp, line);
	if (split_cmd(cp, &c) < 0) {
		fail(o, "malformed", NULL);
		goto out;
	}
	if ((name = (char *)resolve(&c, pool))) {
		fail(o, "unbound", name);
		goto out;
	}
	g_idx = idx;
	const char *task = arg(&c, "task", NULL), *as = arg(&c, "as", NULL), *op = c.op;
	for (size_t i = 0; i < sizeof execops / sizeof execops[0]; i++)
		if (!strcmp(op, execops[i].name)) {
			execops[i].fn(&c, o);
			goto post;
		}
	/* open(O_CREAT) of a path that is not there yet creates a file to undo */
	if (!strcmp(op, "open") && argi(&c, "flags", &flags) == 1 && (flags & O_CREAT) &&
	    arg(&c, "path", NULL) && access(arg(&c, "path", NULL), F_OK))
		created = 1;
	if (!task || !strcmp(task, "init")) {
		run_init_op(&c, o);
	} else if (!(t = find_task(task))) {
		fail(o, "unknown-task", task);
	} else {
		encode_cmd(&c, &cl);
		if (cl.n == cl.cap || cl.n >= IN_MAX)
			fail(o, "too-long", NULL);
		else
			call_task(t, cl.p, cl.n, o, !strcmp(op, "exit"));
	}
post:
	o->p[o->n] = 0;
	if (o->n <= 4 || strncmp(o->p, "ret=", 4))
		goto out;
	ret = strtoll(o->p + 4, NULL, 10);
	if ((!strcmp(op, "fork") || !strcmp(op, "thread")) && ret > 0 && as) {
		long tid = 0, err = 0;
		int fd = accept_task(as, &tid, &err);
		if (fd >= 0)
			add_task(as, fd, tid);
		else
			fail(o, "no-hello", NULL);
	}
	if (!strcmp(op, "kill") && ret == 0 && argi(&c, "sig", &v) == 1 && v == SIGKILL &&
	    argi(&c, "pid", &v) == 1 && v > 0)
		wait_dead(v);
	if (ret >= 0 && created)
		undo_add('f', arg(&c, "path", NULL));
	if (ret == 0 && !strcmp(op, "mkdir"))
		undo_add('d', arg(&c, "path", NULL));
	if (ret == 0 && !strcmp(op, "mount"))
		undo_add('m', arg(&c, "target", NULL));
	if (as && ret >= 0)
		bind_set(as, ret);
out:
	record(idx, o);
	free(cp);
	free(pool);
	free(cl.p);
}

/* ---- between scripts: put the machine back as it was at start ---- */

static void loop_scan(unsigned char *st)
{
	DIR *d = opendir("/dev");
	struct dirent *e;
	memset(st, 0, MAX_LOOP);
	while (d && (e = readdir(d))) {
		char path[96], *end;
		long n = strncmp(e->d_name, "loop", 4) ? -1 : strtol(e->d_name + 4, &end, 10);
		if (n < 0 || n >= MAX_LOOP || end == e->d_name + 4 || *end)
			continue;
		snprintf(path, sizeof path, "/sys/block/loop%ld/loop/backing_file", n);
		st[n] = 1 | (access(path, F_OK) ? 0 : 2);
	}
	if (d)
		closedir(d);
}

static int vhost_left(void)
{
	static long pids[32768], tids[32768];
	int np = list_nums("/proc", pids, 32768);
	for (int i = 0; i < np; i++) {
		char path[96], comm[64];
		snprintf(path, sizeof path, "/proc/%ld/task", pids[i]);
		int nt = list_nums(path, tids, 32768);
		for (int j = 0; j < nt; j++) {
			snprintf(path, sizeof path, "/proc/%ld/task/%ld/comm", pids[i], tids[j]);
			long n = read_file(path, comm, sizeof comm - 1);
			if (n > 6 && !strncmp(comm, "vhost-", 6))
				return 1;
		}
	}
	return 0;
}

/* Retry f(path) for up to 2 s while it fails with EBUSY. */
static int retry_busy(int (*f)(const char *), const char *path)
{
	int r;
	for (long end = now_ms() + 2000; (r = f(path)) < 0 && errno == EBUSY && now_ms() < end;)
		sleep_ms(20);
	return r;
}
static int umount0(const char *p) { return umount2(p, 0); }

static void cleanup(void)
{
	char self[64];
	/* 1. kill every task (our own threads are told to exit), reap */
	for (int i = 0; i < g_ntasks; i++) {
		struct task *t = &g_tasks[i];
		snprintf(self, sizeof self, "/proc/self/task/%ld", t->tid);
		if (t->fd < 0 || conn_closed(t->fd))
			continue; /* dead already: its tid may belong to someone else by now */
		if (!access(self, F_OK)) {
			if (!t->gone && send(t->fd, "0 exit\n", 7, MSG_NOSIGNAL) == 7)
				recv_line(t->fd, &g_rec, 2000);
		} else {
			kill(t->tid, SIGKILL);
		}
	}
	for (long end = now_ms() + DEAD_MS; now_ms() < end; sleep_ms(10)) {
		int left = 0;
		while (waitpid(-1, NULL, __WALL | WNOHANG) > 0)
			;
		for (int i = 0; i < g_ntasks; i++) {
			snprintf(self, sizeof self, "/proc/%ld", g_tasks[i].tid);
			left |= !access(self, F_OK);
		}
		if (!left)
			break;
	}
	for (int i = 0; i < g_ntasks; i++)
		if (g_tasks[i].fd >= 0)
			close(g_tasks[i].fd);
	g_ntasks = g_nbinds = 0;
	close_range(3, HIGH_FD - 1, 0); /* what init's steps opened */
	if (!g_cleanup) {
		g_nundo = 0;
		return;
	}
	/* 2. vhost workers go with their device's last close, not at once */
	for (long end = now_ms() + DEAD_MS; vhost_left() && now_ms() < end;)
		sleep_ms(50);
	/* 3. detach the loop devices the script bound */
	unsigned char now[MAX_LOOP];
	loop_scan(now);
	for (int n = 0; n < MAX_LOOP; n++)
		if ((now[n] & 2) && !(g_loop0[n] & 2)) {
			char path[32];
			snprintf(path, sizeof path, "/dev/loop%d", n);
			int fd = open(path, O_RDWR | O_CLOEXEC);
			if (fd >= 0) {
				ioctl(fd, LOOP_CLR_FD, 0);
				close(fd);
			}
		}
	/* 4. mounts, files and directories (cgroups too), newest first */
	while (g_nundo > 0) {
		const char *p = g_undo[--g_nundo].path;
		switch (g_undo[g_nundo].kind) {
		case 'm':
			if (retry_busy(umount0, p) < 0 && errno == EBUSY)
				umount2(p, MNT_DETACH);
			break;
		case 'f':
			unlink(p);
			break;
		case 'd':
			retry_busy(rmdir, p);
			break;
		}
	}
	/* 5. remove the loop devices that were not there at start */
	int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	for (int n = 0; ctl >= 0 && n < MAX_LOOP; n++)
		if (now[n] && !g_loop0[n])
			for (long end = now_ms() + 2000;
			     ioctl(ctl, LOOP_CTL_REMOVE, n) < 0 && errno == EBUSY && now_ms() < end;)
				sleep_ms(20);
	if (ctl >= 0)
		close(ctl);
}

/* ---- start-up ---- */

static void ensure_std_fds(void)
{
	for (int fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) < 0) {
			int n = open(fd ? "/dev/console" : "/dev/null", O_RDWR | O_NOCTTY);
			if (n < 0)
				n = open("/dev/null", O_RDWR);
			if (n >= 0 && n != fd) {
				dup2(n, fd);
				close(n);
			}
		}
}

/* As pid 1 with a bare initramfs: mount what the program needs if /init did not. */
static void ensure_mounts(void)
{
	if (access("/proc/self/stat", F_OK)) {
		mkdir("/proc", 0555);
		mount("proc", "/proc", "proc", 0, NULL);
	}
	if (access("/sys/kernel", F_OK)) {
		mkdir("/sys", 0555);
		mount("sysfs", "/sys", "sysfs", 0, NULL);
	}
	if (access("/sys/fs/cgroup/cgroup.controllers", F_OK))
		mount("cgroup2", "/sys/fs/cgroup", "cgroup2", 0, NULL);
	if (access("/dev/null", F_OK)) {
		mkdir("/dev", 0755);
		mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
	}
	if (access("/tmp", F_OK))
		mkdir("/tmp", 01777);
}

static int open_output(const char *path)
{
	int fd;
	if (path && !strcmp(path, "-"))
		fd = dup(1);
	else if (path)
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	else if ((fd = open("/dev/ttyS1", O_WRONLY | O_NOCTTY | O_CLOEXEC)) >= 0) {
		struct termios t;
		if (tcgetattr(fd, &t) == 0) {
			cfmakeraw(&t);
			tcsetattr(fd, TCSANOW, &t);
		} else {
			close(fd);
			fd = dup(1);
		}
	} else
		fd = dup(1);
	if (fd < 0)
		return -1;
	int h = fcntl(fd, F_DUPFD_CLOEXEC, HIGH_FD);
	close(fd);
	return h;
}

static int open_listener(void)
{
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memset(&g_addr, 0, sizeof g_addr);
	g_addr.sun_family = AF_UNIX;
	memcpy(g_addr.sun_path, "\0kwq-oracle", 11);
	g_addrlen = offsetof(struct sockaddr_un, sun_path) + 11;
	if (bind(s, (struct sockaddr *)&g_addr, g_addrlen) < 0) {
		/* another executor on this host (tests): a name of our own */
		int n = snprintf(g_addr.sun_path + 1, sizeof g_addr.sun_path - 1, "kwq-oracle-%d",
				 getpid());
		g_addrlen = offsetof(struct sockaddr_un, sun_path) + 1 + n;
		if (bind(s, (struct sockaddr *)&g_addr, g_addrlen) < 0)
			return -1;
	}
	if (listen(s, 64) < 0)
		return -1;
	int h = fcntl(s, F_DUPFD_CLOEXEC, HIGH_FD);
	close(s);
	return h;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "re");
	char *b = NULL;
	size_t n = 0, cap = 0, r;
	if (!f)
		return NULL;
	do {
		if (cap - n < 65536 && !(b = realloc(b, cap = cap * 2 + 65536)))
			return NULL;
		n += r = fread(b + n, 1, cap - n - 1, f);
	} while (r > 0);
	fclose(f);
	b[n] = 0;
	return b;
}

static void start_script(const char *name)
{
	char **lines = NULL;
	int n = 0;
	char *b = klog_read(&lines, &n); /* dmesg's first read starts from here */
	if (b)
		dmesg_mark(lines, n);
	free(lines);
	free(b);
	g_nbinds = 0;
	emits("@@script ", name);
}

int main(int argc, char **argv)
{
	const char *out = NULL, *prog = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-o") && i + 1 < argc)
			out = argv[++i];
		else if (!strcmp(argv[i], "--no-cleanup"))
			g_cleanup = 0;
		else
			prog = argv[i];
	}
	int pid1 = getpid() == 1;
	close_from(3); /* whatever our parent left open: init starts with 0, 1, 2 */
	if (pid1)
		ensure_mounts();
	else
		prctl(PR_SET_CHILD_SUBREAPER, 1); /* orphans of our tasks come to us */
	ensure_std_fds();
	char *text = prog ? slurp(prog) : NULL;
	if ((g_out = open_output(out)) < 0)
		g_out = 1;
	g_listen = open_listener();
	g_init = alloc_ctx();
	g_rec.p = malloc(OUT_MAX + 16); /* room for a NUL after the reply */
	g_rec.cap = OUT_MAX;
	g_line = malloc(OUT_MAX + 1024);
	if (chdir("/") < 0)
		perror("chdir");
	/* no SA_RESTART: the timer's signal interrupts the blocking call */
	struct sigaction sa = { .sa_handler = on_alarm };
	struct sigevent ev = { .sigev_notify = SIGEV_THREAD_ID, .sigev_signo = SIGALRM };
	ev._sigev_un._tid = gettid();
	sigaction(SIGALRM, &sa, NULL);
	if (timer_create(CLOCK_MONOTONIC, &ev, &g_timer) < 0)
		perror("timer_create");
	write_file("/sys/fs/cgroup/cgroup.subtree_control", "+cpu +io +memory +pids", 22);
	loop_scan(g_loop0);

	/* the header: what runs here, init's pid, and what went wrong at start if anything */
	const char *err = !text ? "cannot-read-program" : g_listen < 0 || !g_init || !g_rec.p || !g_line
		? "cannot-start" : strncmp(text, "kwq-oracle 1", 12) || !strchr("\r\n", text[12])
		? "not-a-version-1-program" : NULL;
	struct utsname u;
	char head[512];
	uname(&u);
	snprintf(head, sizeof head, "@@kwq-oracle 1 uname=%s machine=%s pid=%d%s", u.release,
		 u.machine, getpid(), err ? " error=" : "");
	emits(head, err ? err : "");

	char script[512] = "";
	int in_script = 0;
	for (char *s = err ? NULL : text, *e; s && *s; s = e) {
		e = s + strcspn(s, "\n");
		if (*e)
			*e++ = 0;
		size_t l = strlen(s), il = strcspn(s, " ");
		if (l && s[l - 1] == '\r')
			s[--l] = 0;
		if (!strncmp(s, "script ", 7) || !strcmp(s, "end")) {
			if (in_script) {
				cleanup();
				emits("@@end ", script);
			}
			if ((in_script = s[0] == 's')) {
				snprintf(script, sizeof script, "%s", s + 7);
				start_script(script);
			}
		} else if (in_script && il && il < 16 && strspn(s, "0123456789") == il) {
			char idx[16];
			snprintf(idx, sizeof idx, "%.*s", (int)il, s);
			run_step(s, idx);
		} /* else: the header, a blank line, or one the host could not read back: skip */
	}
	if (in_script) {
		cleanup();
		emits("@@end ", script);
	}
	emits("@@done", "");
	if (pid1) {
		sync();
		reboot(RB_POWER_OFF);
		for (;;)
			pause();
	}
	return 0;
}
