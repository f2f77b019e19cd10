/* loadgen.c - a load generator for IMAP, POP3 and LMTP servers (libevent).
 *
 *   loadgen --mode MODE --port PORT [options]      JSON result on stdout
 *
 * One process, one event loop, many connections. Each connection runs a
 * scripted session of the chosen mode; every command's latency (from the
 * moment it is written to the moment its complete response is read) goes
 * into a histogram per command, and the result is printed as one JSON
 * object. Modes:
 *
 *   imap-mixed  LOGIN, SELECT INBOX, FETCH 1:* (FLAGS), FETCH r:r+9 (ENVELOPE),
 *               FETCH r (BODY.PEEK[]), STORE +FLAGS (\Seen), STORE
 *               +FLAGS.SILENT (\Deleted), EXPUNGE, APPEND (a corpus message),
 *               STATUS, LIST, LOGOUT, over and over for --duration seconds
 *               (the shape of imaptest's default: the mailbox keeps its size
 *               since one message is expunged and one appended per session)
 *   idle        --clients connections log in, SELECT INBOX and IDLE (at most
 *               --ramp logging in at once); "READY n" on stderr once all are
 *               idle. Then reads commands on stdin: "report T0_NS TIMEOUT_MS
 *               [USER]" waits until every idle connection (only those of user
 *               number USER, if given) has seen an EXISTS at or after
 *               CLOCK_MONOTONIC time T0_NS (or the timeout) and prints a JSON
 *               line with each latency; "quit" or EOF ends the run
 *   login       connect (+ TLS with --tls), LOGIN, LOGOUT, close; repeated by
 *               every client for --duration seconds (a login storm)
 *   pop3        USER, PASS, STAT, LIST, RETR 1..n, QUIT (--sessions times)
 *   lmtp        LHLO once, then MAIL FROM, RCPT TO, DATA pipelined (RFC 2920)
 *               and the message, until --messages messages were acknowledged
 *               over all --clients connections
 *   bigmbox     LOGIN, SELECT, FETCH 1:* (UID FLAGS), UID SEARCH HEADER,
 *               SEARCH BODY, LOGOUT (--sessions times)
 *
 * Users are --user-fmt with %d = (client number % --users) + 1 + --user-offset
 * (LMTP: the message number instead of the client number). The corpus
 * (bench/gen output) is "ROOSTCORPUS 1\n" then, per message, "<length>\n"
 * and the message (CRLF lines). Everything is bounded: --duration, a hard
 * stop 120 s after it, and a 120 s read timeout on every connection. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "hist.h"

enum mode { M_IMAP_MIXED, M_IDLE, M_LOGIN, M_POP3, M_LMTP, M_BIGMBOX };

/* What the current command waits for. */
enum expect {
	EXP_NONE,
	EXP_IMAP_GREETING,
	EXP_IMAP_TAGGED,
	EXP_IMAP_CONT,
	EXP_POP_LINE,
	EXP_POP_MULTI,
	EXP_LMTP,
};

/* Command kinds: one histogram each. */
enum kind {
	K_CONNECT, K_LOGIN, K_SELECT, K_FETCH_FLAGS, K_FETCH_ENVELOPE, K_FETCH_BODY, K_STORE_SEEN,
	K_STORE_DELETED, K_EXPUNGE, K_APPEND, K_STATUS, K_LIST, K_LOGOUT, K_IDLE, K_SESSION,
	K_USER, K_PASS, K_STAT, K_POP_LIST, K_RETR, K_QUIT, K_LHLO, K_ENVELOPE, K_DATA, K_MESSAGE,
	K_FETCH_ALL, K_SEARCH_HEADER, K_SEARCH_BODY, K_COUNT
};

static const char *const kind_names[K_COUNT] = {
	"CONNECT", "LOGIN", "SELECT", "FETCH_FLAGS", "FETCH_ENVELOPE", "FETCH_BODY", "STORE_SEEN",
	"STORE_DELETED", "EXPUNGE", "APPEND", "STATUS", "LIST", "LOGOUT", "IDLE", "SESSION",
	"USER", "PASS", "STAT", "POP_LIST", "RETR", "QUIT", "LHLO", "MAIL_RCPT_DATA", "DOT",
	"MESSAGE", "FETCH_UID_FLAGS_ALL", "UID_SEARCH_HEADER", "SEARCH_BODY",
};

#define MAX_SOURCES 64
#define LINE_MAX_LEN (1024 * 1024)

struct opts {
	enum mode mode;
	const char *host;
	int port;
	bool tls;
	struct in_addr sources[MAX_SOURCES];
	int nsources;
	int clients;
	double duration;
	int users;
	int user_offset;
	const char *user_fmt;
	const char *pass;
	const char *corpus;
	long messages;
	int sessions;
	const char *mailbox;
	const char *header_name;
	const char *header_value;
	const char *body_word;
	int ramp;
	long min_mem_mb;
	const char *label;
};

struct message {
	const char *raw;	/* CRLF lines, for APPEND */
	size_t raw_len;
	char *stuffed;		/* dot-stuffed, for LMTP DATA (without the final ".") */
	size_t stuffed_len;
};

struct client {
	int id;
	struct bufferevent *bev;
	int step;
	unsigned tag;
	char tagbuf[16];
	size_t taglen;
	enum expect expect;
	enum kind kind;
	uint64_t t_start;
	uint64_t session_start;
	uint64_t msg_start;
	uint64_t skip;		/* literal bytes still to drain */
	int ml_state;		/* POP3 multi-line terminator scanner state */
	bool ml_started;
	int lmtp_pending;
	bool lmtp_failed;
	bool failed;		/* the last command got NO/BAD/-ERR/4xx/5xx */
	uint32_t exists;
	uint32_t pop_count;
	uint32_t pop_next;
	unsigned seed;
	int sessions_done;
	bool idle_ready;
	bool active;
	uint64_t last_exists_ns;
	size_t leftover;	/* input bytes left unconsumed by the last read */
	long lmtp_msg;
};

struct stats {
	struct hist h[K_COUNT];
	uint64_t errors[K_COUNT];
	uint64_t sessions;
	uint64_t connect_errors;
	uint64_t protocol_errors;
	uint64_t bytes_in;
	uint64_t bytes_out;
	uint64_t retr_bytes;
	uint64_t delivered;
};

static struct opts opt = {
	.host = "127.0.0.1", .clients = 1, .duration = 10, .users = 1,
	.user_fmt = "user%d", .pass = "pass", .messages = 1000, .mailbox = "INBOX",
	.header_name = "Subject", .header_value = "needle", .body_word = "needle", .ramp = 100,
	.min_mem_mb = 1024, .label = "",
};
static struct stats st;
static struct event_base *base;
static SSL_CTX *ssl_ctx;
static struct client *clients;
static struct message *corpus;
static size_t corpus_count;
static bool stopping;
static int active_clients;
static uint64_t t_run_start, t_run_end;
static long lmtp_next;
static int idle_ready_count, idle_started, idle_failed;
static bool idle_low_mem, idle_announced;
static struct event *report_timer;
static uint64_t report_t0, report_deadline;
static int report_user;	/* 0: every connection; else only this user number */

static void client_start(struct client *c);
static void idle_start_more(void);
static void client_done_session(struct client *c, bool restart);
static void mode_next(struct client *c);

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("loadgen: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

/* ---- corpus ---- */

static char *stuff_dots(const char *p, size_t len, size_t *len_r)
{
	/* Worst case every line starts with a dot: one extra byte per line. */
	size_t lines = 1;
	for (size_t i = 0; i < len; i++)
		lines += p[i] == '\n';
	char *out = malloc(len + lines + 2);
	if (out == NULL)
		die("out of memory");
	size_t o = 0;
	bool bol = true;
	for (size_t i = 0; i < len; i++) {
		if (bol && p[i] == '.')
			out[o++] = '.';
		out[o++] = p[i];
		bol = p[i] == '\n';
	}
	/* DATA must end with CRLF before the final dot. */
	if (o < 2 || out[o - 2] != '\r' || out[o - 1] != '\n') {
		out[o++] = '\r';
		out[o++] = '\n';
	}
	*len_r = o;
	return out;
}

static void corpus_load(const char *path, bool want_stuffed)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		die("cannot open corpus %s: %s", path, strerror(errno));
	char head[32];
	if (fgets(head, sizeof(head), f) == NULL || strcmp(head, "ROOSTCORPUS 1\n") != 0)
		die("%s is not a corpus (bench/gen output)", path);
	size_t cap = 0;
	char lenline[32];
	while (fgets(lenline, sizeof(lenline), f) != NULL) {
		char *end;
		unsigned long len = strtoul(lenline, &end, 10);
		if (*end != '\n' || len == 0 || len > 256ul * 1024 * 1024)
			die("%s: bad message length line", path);
		char *m = malloc(len);
		if (m == NULL)
			die("out of memory");
		if (fread(m, 1, len, f) != len)
			die("%s: truncated", path);
		if (corpus_count == cap) {
			cap = cap ? cap * 2 : 1024;
			corpus = realloc(corpus, cap * sizeof(*corpus));
			if (corpus == NULL)
				die("out of memory");
		}
		struct message *msg = &corpus[corpus_count++];
		msg->raw = m;
		msg->raw_len = len;
		msg->stuffed = NULL;
		if (want_stuffed)
			msg->stuffed = stuff_dots(m, len, &msg->stuffed_len);
	}
	fclose(f);
	if (corpus_count == 0)
		die("%s holds no message", path);
}

/* ---- sending ---- */

static void send_raw(struct client *c, const void *p, size_t len)
{
	bufferevent_write(c->bev, p, len);
	st.bytes_out += len;
}

static void send_fmt(struct client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void send_fmt(struct client *c, const char *fmt, ...)
{
	char line[2048];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line))
		die("command too long");
	send_raw(c, line, (size_t)n);
}

static void begin(struct client *c, enum kind k, enum expect e)
{
	c->kind = k;
	c->expect = e;
	c->failed = false;
	c->t_start = now_ns();
}

/* Writes "A<n> " + the formatted command + CRLF and waits for its tagged reply. */
static void imap_cmd(struct client *c, enum kind k, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void imap_cmd(struct client *c, enum kind k, const char *fmt, ...)
{
	char line[2048];
	c->tag++;
	c->taglen = (size_t)snprintf(c->tagbuf, sizeof(c->tagbuf), "A%u ", c->tag);
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line))
		die("command too long");
	begin(c, k, EXP_IMAP_TAGGED);
	send_raw(c, c->tagbuf, c->taglen);
	send_raw(c, line, (size_t)n);
	send_raw(c, "\r\n", 2);
}

static void user_name(struct client *c, long n, char *out, size_t outlen)
{
	int idx = (int)(n % opt.users) + 1 + opt.user_offset;
	/* main() checked that the format holds exactly one %d. */
	const char *pct = strstr(opt.user_fmt, "%d");
	snprintf(out, outlen, "%.*s%d%s", (int)(pct - opt.user_fmt), opt.user_fmt, idx, pct + 2);
}

/* ---- completion ---- */

static void complete(struct client *c)
{
	uint64_t us = (now_ns() - c->t_start) / 1000;
	hist_add(&st.h[c->kind], us);
	if (c->failed) {
		st.errors[c->kind]++;
		st.protocol_errors++;
	}
	c->expect = EXP_NONE;
	mode_next(c);
}

/* ---- reading ---- */

static bool starts(const char *line, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);
	return len >= n && strncasecmp(line, prefix, n) == 0;
}

/* A trailing "{n}" (or "{n+}") announces n literal bytes after the line. */
static uint64_t literal_len(const char *line, size_t len)
{
	if (len < 3 || line[len - 1] != '}')
		return 0;
	size_t i = len - 1;
	while (i > 0 && line[i - 1] != '{')
		i--;
	if (i == 0)
		return 0;
	return strtoull(line + i, NULL, 10);
}

/* Returns false when the client was closed or restarted (stop reading). */
static bool imap_line(struct client *c, const char *line, size_t len)
{
	c->skip = literal_len(line, len);
	if (len > 2 && line[0] == '*' && line[1] == ' ') {
		char *end;
		unsigned long n = strtoul(line + 2, &end, 10);
		if (end != line + 2) {
			if (strncasecmp(end, " EXISTS", 7) == 0) {
				c->exists = (uint32_t)n;
				if (c->idle_ready)
					c->last_exists_ns = now_ns();
			} else if (strncasecmp(end, " EXPUNGE", 8) == 0 && c->exists > 0) {
				c->exists--;
			}
		}
	}
	switch (c->expect) {
	case EXP_IMAP_GREETING:
		if (line[0] == '*') {
			c->failed = !starts(line, len, "* OK");
			complete(c);
		}
		break;
	case EXP_IMAP_TAGGED:
	case EXP_IMAP_CONT:
		if (c->expect == EXP_IMAP_CONT && line[0] == '+') {
			complete(c);
			break;
		}
		if (len > c->taglen && memcmp(line, c->tagbuf, c->taglen) == 0) {
			c->failed = !starts(line + c->taglen, len - c->taglen, "OK");
			complete(c);
		}
		break;
	default:
		break;
	}
	return true;
}

static bool pop_line(struct client *c, const char *line, size_t len)
{
	bool ok = starts(line, len, "+OK");
	if (c->expect == EXP_POP_MULTI && ok) {
		c->ml_started = true;
		c->ml_state = 2;	/* at the start of a line */
		return true;
	}
	if (c->kind == K_STAT && ok)
		c->pop_count = (uint32_t)strtoul(line + 3, NULL, 10);
	c->failed = !ok;
	complete(c);
	return c->bev != NULL;
}

/* Scans a POP3 multi-line body for CRLF "." CRLF; drains what it consumed.
 * Returns 1 at the end, 0 when more is needed. */
static int pop_multi_scan(struct client *c, struct evbuffer *in)
{
	for (;;) {
		struct evbuffer_iovec v;
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0)
			return 0;
		const unsigned char *p = v.iov_base;
		size_t i;
		int s = c->ml_state;
		for (i = 0; i < v.iov_len; i++) {
			/* 0 in a line, 2 at line start, 3 after a leading dot, 4
			 * after dot CR. Inside a line only its LF matters (servers
			 * send CRLF lines; the end is the line "." alone), so the
			 * scan jumps there with memchr: a byte-wise scan made this
			 * client, not the server, the limit of a POP3 download. */
			if (s == 0) {
				const unsigned char *nl = memchr(p + i, '\n', v.iov_len - i);
				if (nl == NULL) {
					i = v.iov_len;
					break;
				}
				i = (size_t)(nl - p);
				s = 2;
				continue;
			}
			unsigned char ch = p[i];
			switch (s) {
			case 2: s = ch == '.' ? 3 : 0; break;
			case 3: s = ch == '\r' ? 4 : 0; break;
			case 4:
				if (ch == '\n') {
					evbuffer_drain(in, i + 1);
					if (c->kind == K_RETR)
						st.retr_bytes += i + 1;
					c->ml_state = 0;
					c->ml_started = false;
					return 1;
				}
				s = 0;
				break;
			}
		}
		c->ml_state = s;
		if (c->kind == K_RETR)
			st.retr_bytes += v.iov_len;
		evbuffer_drain(in, v.iov_len);
	}
}

static bool lmtp_line(struct client *c, const char *line, size_t len)
{
	if (len < 4 || (line[3] != ' ' && line[3] != '-')) {
		c->lmtp_failed = true;
		c->lmtp_pending--;
	} else if (line[3] == ' ') {
		if (line[0] != '2' && line[0] != '3')
			c->lmtp_failed = true;
		c->lmtp_pending--;
	}
	if (c->lmtp_pending <= 0) {
		c->failed = c->lmtp_failed;
		complete(c);
		return c->bev != NULL;
	}
	return true;
}

/* libevent 2.1 reads at most 4 KiB per readable event whatever
 * bufferevent_set_max_single_read says (EVBUFFER_MAX_READ in buffer.c): a
 * download would cost this client a loop turn, an ioctl and a read per
 * 4 KiB, making the client, not the server, the limit. On plain sockets,
 * what the socket holds is taken in one more read (up to 1 MiB). End of
 * file and errors are left for libevent's next read to report. */
static void read_rest(struct bufferevent *bev, struct evbuffer *in)
{
	if (opt.tls)
		return;
	evutil_socket_t fd = bufferevent_getfd(bev);
	int pending = 0;
	if (fd < 0 || ioctl(fd, FIONREAD, &pending) < 0 || pending <= 0)
		return;
	if (pending > 1024 * 1024)
		pending = 1024 * 1024;
	/* A socket bufferevent keeps its input's end frozen between its own
	 * reads. */
	evbuffer_unfreeze(in, 0);
	struct evbuffer_iovec v[2];
	int n = evbuffer_reserve_space(in, pending, v, 2);
	if (n > 0) {
		struct iovec iov[2];
		for (int i = 0; i < n; i++) {
			iov[i].iov_base = v[i].iov_base;
			iov[i].iov_len = v[i].iov_len;
		}
		ssize_t got = readv(fd, iov, n);
		int used = 0;
		size_t left = got > 0 ? (size_t)got : 0;
		while (left > 0 && used < n) {
			if (v[used].iov_len > left)
				v[used].iov_len = left;
			left -= v[used].iov_len;
			used++;
		}
		evbuffer_commit_space(in, v, used);
	}
	evbuffer_freeze(in, 0);
}

static void readcb(struct bufferevent *bev, void *arg)
{
	struct client *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	read_rest(bev, in);
	size_t total = evbuffer_get_length(in);
	st.bytes_in += total - c->leftover;
	for (;;) {
		if (c->skip > 0) {
			size_t have = evbuffer_get_length(in);
			size_t n = have < c->skip ? have : (size_t)c->skip;
			evbuffer_drain(in, n);
			c->skip -= n;
			if (c->skip > 0)
				break;
		}
		if (c->expect == EXP_POP_MULTI && c->ml_started) {
			if (pop_multi_scan(c, in) == 0)
				break;
			complete(c);
			if (c->bev != bev)
				return;
			continue;
		}
		size_t len;
		char *line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF);
		if (line == NULL) {
			if (evbuffer_get_length(in) > LINE_MAX_LEN) {
				fprintf(stderr, "loadgen: client %d: line too long\n", c->id);
				st.protocol_errors++;
				client_done_session(c, true);
				return;
			}
			break;
		}
		bool go = true;
		if (c->expect != EXP_NONE || opt.mode == M_IDLE || opt.mode == M_IMAP_MIXED) {
			switch (opt.mode) {
			case M_POP3: go = pop_line(c, line, len); break;
			case M_LMTP: go = lmtp_line(c, line, len); break;
			default: go = imap_line(c, line, len); break;
			}
		}
		free(line);
		if (!go || c->bev != bev)
			return;
	}
	c->leftover = evbuffer_get_length(in);
}

static void eventcb(struct bufferevent *bev, short what, void *arg)
{
	struct client *c = arg;
	if (what & BEV_EVENT_CONNECTED)
		return;
	/* EOF after LOGOUT/QUIT is the normal end. */
	bool normal = (what & BEV_EVENT_EOF) &&
		      (c->kind == K_LOGOUT || c->kind == K_QUIT) && c->expect == EXP_NONE;
	if (!normal) {
		if (c->kind == K_CONNECT && c->expect != EXP_NONE)
			st.connect_errors++;
		else
			st.protocol_errors++;
		if (st.connect_errors + st.protocol_errors < 20) {
			unsigned long e = bufferevent_get_openssl_error(bev);
			char buf[256] = "";
			if (e)
				ERR_error_string_n(e, buf, sizeof(buf));
			fprintf(stderr, "loadgen: client %d: %s%s%s during %s (step %d) %s\n", c->id,
				(what & BEV_EVENT_EOF) ? "EOF" : "",
				(what & BEV_EVENT_ERROR) ? "error " : "",
				(what & BEV_EVENT_TIMEOUT) ? "timeout" : "", kind_names[c->kind],
				c->step, e ? buf : strerror(EVUTIL_SOCKET_ERROR()));
		}
	}
	if (opt.mode == M_IDLE && !c->idle_ready)
		idle_failed++;
	client_done_session(c, !normal);
}

/* ---- connections ---- */

static void restart_cb(evutil_socket_t fd, short what, void *arg)
{
	client_start(arg);
}

static void client_close(struct client *c)
{
	if (c->bev != NULL) {
		bufferevent_free(c->bev);
		c->bev = NULL;
	}
	c->expect = EXP_NONE;
}

static void maybe_finish(void)
{
	if (active_clients == 0 && stopping) {
		t_run_end = now_ns();
		event_base_loopbreak(base);
	}
}

/* Ends the connection; starts a new session unless the run is over. After an
 * error the new connection waits 100 ms so a dead server is not hammered. */
static void client_done_session(struct client *c, bool error)
{
	client_close(c);
	bool again = !stopping;
	if (opt.mode == M_IDLE || opt.mode == M_LMTP)
		again = false;
	if ((opt.mode == M_POP3 || opt.mode == M_BIGMBOX) && c->sessions_done >= opt.sessions)
		again = false;
	if (!again) {
		if (c->active) {
			c->active = false;
			active_clients--;
		}
		if (opt.mode == M_IDLE)
			idle_start_more();	/* the slot is free for the next one */
		if (active_clients == 0 && (opt.mode != M_IDLE))
			stopping = true;
		maybe_finish();
		return;
	}
	if (error) {
		struct timeval tv = { 0, 100000 };
		event_base_once(base, -1, EV_TIMEOUT, restart_cb, c, &tv);
	} else {
		client_start(c);
	}
}

static void client_start(struct client *c)
{
	if (stopping && opt.mode != M_IDLE) {
		if (c->active) {
			c->active = false;
			active_clients--;
		}
		maybe_finish();
		return;
	}
	if (!c->active) {
		c->active = true;
		active_clients++;
	}
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port) };
	if (inet_pton(AF_INET, opt.host, &sa.sin_addr) != 1)
		die("bad --host %s (IPv4 address)", opt.host);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		st.connect_errors++;
		client_done_session(c, true);
		return;
	}
	if (opt.nsources > 0) {
		struct sockaddr_in src = { .sin_family = AF_INET };
		src.sin_addr = opt.sources[c->id % opt.nsources];
		int one = 1;
		setsockopt(fd, SOL_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&src, sizeof(src)) != 0) {
			close(fd);
			st.connect_errors++;
			client_done_session(c, true);
			return;
		}
	}
	if (opt.tls) {
		SSL *ssl = SSL_new(ssl_ctx);
		if (ssl == NULL)
			die("SSL_new failed");
		c->bev = bufferevent_openssl_socket_new(base, fd, ssl, BUFFEREVENT_SSL_CONNECTING,
							BEV_OPT_CLOSE_ON_FREE);
	} else {
		c->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	}
	if (c->bev == NULL)
		die("bufferevent_socket_new failed");
	bufferevent_setcb(c->bev, readcb, NULL, eventcb, c);
	if (opt.mode != M_IDLE) {
		struct timeval tmo = { 120, 0 };
		bufferevent_set_timeouts(c->bev, &tmo, &tmo);
	}
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	c->step = 0;
	c->skip = 0;
	c->leftover = 0;
	c->exists = 0;
	c->ml_started = false;
	c->idle_ready = false;
	c->session_start = now_ns();
	begin(c, K_CONNECT,
	      opt.mode == M_POP3 ? EXP_POP_LINE : opt.mode == M_LMTP ? EXP_LMTP : EXP_IMAP_GREETING);
	c->lmtp_pending = 1;
	c->lmtp_failed = false;
	if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		st.connect_errors++;
		c->expect = EXP_NONE;
		client_done_session(c, true);
	}
}

/* ---- modes ---- */

static uint32_t rnd_msg(struct client *c)
{
	return c->exists ? (uint32_t)(rand_r(&c->seed) % c->exists) + 1 : 1;
}

static void session_end(struct client *c)
{
	hist_add(&st.h[K_SESSION], (now_ns() - c->session_start) / 1000);
	st.sessions++;
	c->sessions_done++;
}

static void login_cmd(struct client *c)
{
	char user[256];
	user_name(c, c->id, user, sizeof(user));
	imap_cmd(c, K_LOGIN, "LOGIN \"%s\" \"%s\"", user, opt.pass);
}

static void mixed_next(struct client *c)
{
	bool failed = c->failed;
	switch (c->step++) {
	case 0:
		if (failed)
			break;
		login_cmd(c);
		return;
	case 1:
		if (failed)
			break;
		imap_cmd(c, K_SELECT, "SELECT %s", opt.mailbox);
		return;
	case 2:
		if (failed)
			break;
		if (c->exists == 0) {
			c->step = 8;
			mixed_next(c);
			return;
		}
		imap_cmd(c, K_FETCH_FLAGS, "FETCH 1:* (FLAGS)");
		return;
	case 3: {
		uint32_t r = rnd_msg(c), e = r + 9 > c->exists ? c->exists : r + 9;
		imap_cmd(c, K_FETCH_ENVELOPE, "FETCH %u:%u (ENVELOPE)", r, e);
		return;
	}
	case 4:
		imap_cmd(c, K_FETCH_BODY, "FETCH %u (BODY.PEEK[])", rnd_msg(c));
		return;
	case 5:
		imap_cmd(c, K_STORE_SEEN, "STORE %u +FLAGS (\\Seen)", rnd_msg(c));
		return;
	case 6:
		imap_cmd(c, K_STORE_DELETED, "STORE %u +FLAGS.SILENT (\\Deleted)", rnd_msg(c));
		return;
	case 7:
		imap_cmd(c, K_EXPUNGE, "EXPUNGE");
		return;
	case 8: {
		const struct message *m = &corpus[(unsigned)rand_r(&c->seed) % corpus_count];
		/* LITERAL+ (RFC 7888): no round trip for the continuation. */
		imap_cmd(c, K_APPEND, "APPEND %s () {%zu+}", opt.mailbox, m->raw_len);
		/* imap_cmd wrote the CRLF after the literal announcement; the
		 * literal and the command's final CRLF follow. */
		send_raw(c, m->raw, m->raw_len);
		send_raw(c, "\r\n", 2);
		return;
	}
	case 9:
		imap_cmd(c, K_STATUS, "STATUS %s (MESSAGES UNSEEN UIDNEXT)", opt.mailbox);
		return;
	case 10:
		imap_cmd(c, K_LIST, "LIST \"\" \"*\"");
		return;
	case 11:
		imap_cmd(c, K_LOGOUT, "LOGOUT");
		return;
	case 12:
		session_end(c);
		client_done_session(c, false);
		return;
	}
	/* greeting, LOGIN or SELECT failed: drop this session */
	client_done_session(c, true);
}

static void login_next(struct client *c)
{
	bool failed = c->failed;
	switch (c->step++) {
	case 0:
		if (failed)
			break;
		login_cmd(c);
		return;
	case 1:
		if (failed)
			break;
		imap_cmd(c, K_LOGOUT, "LOGOUT");
		return;
	case 2:
		session_end(c);
		client_done_session(c, false);
		return;
	}
	client_done_session(c, true);
}

static void pop3_next(struct client *c)
{
	bool failed = c->failed;
	char user[256];
	int step = c->step++;
	if (failed && step != 5)
		step = -1;
	switch (step) {
	case 0:
		user_name(c, c->id, user, sizeof(user));
		begin(c, K_USER, EXP_POP_LINE);
		send_fmt(c, "USER %s\r\n", user);
		return;
	case 1:
		begin(c, K_PASS, EXP_POP_LINE);
		send_fmt(c, "PASS %s\r\n", opt.pass);
		return;
	case 2:
		begin(c, K_STAT, EXP_POP_LINE);
		send_fmt(c, "STAT\r\n");
		return;
	case 3:
		begin(c, K_POP_LIST, EXP_POP_MULTI);
		send_fmt(c, "LIST\r\n");
		c->pop_next = 1;
		return;
	case 4:
		if (c->pop_next <= c->pop_count) {
			c->step = 4;
			begin(c, K_RETR, EXP_POP_MULTI);
			send_fmt(c, "RETR %u\r\n", c->pop_next++);
			return;
		}
		begin(c, K_QUIT, EXP_POP_LINE);
		send_fmt(c, "QUIT\r\n");
		return;
	case 5:
		session_end(c);
		client_done_session(c, false);
		return;
	}
	client_done_session(c, true);
}

static void lmtp_txn(struct client *c)
{
	if (lmtp_next >= opt.messages || stopping) {
		begin(c, K_QUIT, EXP_LMTP);
		c->lmtp_pending = 1;
		c->lmtp_failed = false;
		c->step = 99;
		send_fmt(c, "QUIT\r\n");
		return;
	}
	c->lmtp_msg = lmtp_next++;
	char rcpt[256];
	user_name(c, c->lmtp_msg, rcpt, sizeof(rcpt));
	c->msg_start = now_ns();
	begin(c, K_ENVELOPE, EXP_LMTP);
	c->lmtp_pending = 3;
	c->lmtp_failed = false;
	c->step = 2;
	send_fmt(c, "MAIL FROM:<bench@loadgen.test>\r\nRCPT TO:<%s>\r\nDATA\r\n", rcpt);
}

static void lmtp_next_step(struct client *c)
{
	bool failed = c->failed;
	switch (c->step) {
	case 0:
		if (failed)
			break;
		c->step = 1;
		begin(c, K_LHLO, EXP_LMTP);
		c->lmtp_pending = 1;
		c->lmtp_failed = false;
		send_fmt(c, "LHLO loadgen.test\r\n");
		return;
	case 1:
		if (failed)
			break;
		lmtp_txn(c);
		return;
	case 2: {
		if (failed) {
			/* RSET so the next transaction starts clean. */
			begin(c, K_ENVELOPE, EXP_LMTP);
			c->lmtp_pending = 1;
			c->lmtp_failed = false;
			c->step = 1;
			send_fmt(c, "RSET\r\n");
			return;
		}
		const struct message *m = &corpus[(size_t)c->lmtp_msg % corpus_count];
		begin(c, K_DATA, EXP_LMTP);
		c->lmtp_pending = 1;
		c->lmtp_failed = false;
		c->step = 3;
		send_raw(c, m->stuffed, m->stuffed_len);
		send_raw(c, ".\r\n", 3);
		return;
	}
	case 3:
		if (!failed) {
			st.delivered++;
			hist_add(&st.h[K_MESSAGE], (now_ns() - c->msg_start) / 1000);
		}
		lmtp_txn(c);
		return;
	case 99:
		session_end(c);
		c->kind = K_QUIT;
		client_done_session(c, false);
		return;
	}
	client_done_session(c, true);
}

static void bigmbox_next(struct client *c)
{
	bool failed = c->failed;
	switch (c->step++) {
	case 0:
		if (failed)
			break;
		login_cmd(c);
		return;
	case 1:
		if (failed)
			break;
		imap_cmd(c, K_SELECT, "SELECT %s", opt.mailbox);
		return;
	case 2:
		if (failed)
			break;
		imap_cmd(c, K_FETCH_ALL, "FETCH 1:* (UID FLAGS)");
		return;
	case 3:
		imap_cmd(c, K_SEARCH_HEADER, "UID SEARCH HEADER %s \"%s\"", opt.header_name,
			 opt.header_value);
		return;
	case 4:
		imap_cmd(c, K_SEARCH_BODY, "SEARCH BODY \"%s\"", opt.body_word);
		return;
	case 5:
		imap_cmd(c, K_LOGOUT, "LOGOUT");
		return;
	case 6:
		session_end(c);
		client_done_session(c, false);
		return;
	}
	client_done_session(c, true);
}

/* ---- idle mode ---- */

static long mem_available_mb(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	if (f == NULL)
		return -1;
	char line[256];
	long kb = -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "MemAvailable: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb < 0 ? -1 : kb / 1024;
}

static void idle_start_more(void)
{
	int in_flight = idle_started - idle_ready_count - idle_failed;
	while (!idle_low_mem && idle_started < opt.clients && in_flight < opt.ramp) {
		if (idle_started % 500 == 0 && opt.min_mem_mb > 0) {
			long avail = mem_available_mb();
			if (avail >= 0 && avail < opt.min_mem_mb) {
				fprintf(stderr, "loadgen: only %ld MiB available: stopping at %d "
					"connections\n", avail, idle_started);
				idle_low_mem = true;
				break;
			}
		}
		client_start(&clients[idle_started++]);
		in_flight++;
	}
	if (!idle_announced && idle_ready_count + idle_failed >= idle_started &&
	    (idle_started >= opt.clients || idle_low_mem)) {
		idle_announced = true;
		fprintf(stderr, "READY %d failed=%d\n", idle_ready_count, idle_failed);
	}
}

static void idle_next(struct client *c)
{
	bool failed = c->failed;
	switch (c->step++) {
	case 0:
		if (failed)
			break;
		login_cmd(c);
		return;
	case 1:
		if (failed)
			break;
		imap_cmd(c, K_SELECT, "SELECT %s", opt.mailbox);
		return;
	case 2:
		if (failed)
			break;
		imap_cmd(c, K_IDLE, "IDLE");
		c->expect = EXP_IMAP_CONT;
		return;
	case 3:
		if (failed)
			break;
		c->idle_ready = true;
		c->expect = EXP_NONE;
		idle_ready_count++;
		idle_start_more();
		return;
	}
	idle_failed++;
	client_close(c);
	idle_start_more();
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int client_user(const struct client *c)
{
	return c->id % opt.users + 1 + opt.user_offset;
}

static bool report_counts(const struct client *c)
{
	return c->bev != NULL && c->idle_ready && (report_user == 0 || client_user(c) == report_user);
}

static void report_check(evutil_socket_t fd, short what, void *arg)
{
	int waiting = 0, ready = 0;
	for (int i = 0; i < opt.clients; i++) {
		struct client *c = &clients[i];
		if (!report_counts(c))
			continue;
		ready++;
		if (c->last_exists_ns < report_t0)
			waiting++;
	}
	if (waiting > 0 && now_ns() < report_deadline)
		return;
	evtimer_del(report_timer);
	uint64_t *lat = calloc((size_t)ready + 1, sizeof(*lat));
	if (lat == NULL)
		die("out of memory");
	int n = 0;
	for (int i = 0; i < opt.clients; i++) {
		struct client *c = &clients[i];
		if (report_counts(c) && c->last_exists_ns >= report_t0)
			lat[n++] = (c->last_exists_ns - report_t0) / 1000;
	}
	qsort(lat, (size_t)n, sizeof(*lat), cmp_u64);
	printf("{\"label\":\"%s\",\"idle\":%d,\"seen\":%d,\"missing\":%d,\"lat_us\":[", opt.label,
	       ready, n, ready - n);
	for (int i = 0; i < n; i++)
		printf("%s%" PRIu64, i ? "," : "", lat[i]);
	printf("]}\n");
	fflush(stdout);
	free(lat);
}

static void stdin_cb(evutil_socket_t fd, short what, void *arg)
{
	static char buf[512];
	static size_t have;
	ssize_t n = read(fd, buf + have, sizeof(buf) - 1 - have);
	if (n <= 0) {
		event_base_loopbreak(base);
		return;
	}
	have += (size_t)n;
	buf[have] = '\0';
	char *nl;
	while ((nl = strchr(buf, '\n')) != NULL) {
		*nl = '\0';
		unsigned long long t0, tmo;
		int user = 0;
		if (strcmp(buf, "quit") == 0) {
			event_base_loopbreak(base);
		} else if (sscanf(buf, "report %llu %llu %d", &t0, &tmo, &user) >= 2) {
			report_t0 = t0;
			report_user = user;
			report_deadline = now_ns() + tmo * 1000000ull;
			/* Checked every 2 ms until all have seen it or time is up. */
			struct timeval tv = { 0, 2000 };
			evtimer_add(report_timer, &tv);
			report_check(-1, 0, NULL);
		} else if (strcmp(buf, "stats") == 0) {
			printf("{\"idle\":%d,\"failed\":%d,\"started\":%d}\n", idle_ready_count,
			       idle_failed, idle_started);
			fflush(stdout);
		}
		size_t used = (size_t)(nl - buf) + 1;
		memmove(buf, nl + 1, have - used + 1);
		have -= used;
	}
	if (have >= sizeof(buf) - 1)
		have = 0;
}

static void mode_next(struct client *c)
{
	switch (opt.mode) {
	case M_IMAP_MIXED: mixed_next(c); break;
	case M_IDLE: idle_next(c); break;
	case M_LOGIN: login_next(c); break;
	case M_POP3: pop3_next(c); break;
	case M_LMTP: lmtp_next_step(c); break;
	case M_BIGMBOX: bigmbox_next(c); break;
	}
}

/* ---- output ---- */

static void print_json(void)
{
	double elapsed = (double)(t_run_end - t_run_start) / 1e9;
	uint64_t cmds = 0;
	for (int k = 0; k < K_COUNT; k++)
		if (k != K_SESSION && k != K_MESSAGE)
			cmds += st.h[k].count;
	static const char *const names[] = { "imap-mixed", "idle", "login", "pop3", "lmtp",
					     "bigmbox" };
	printf("{\"label\":\"%s\",\"mode\":\"%s\",\"clients\":%d,\"tls\":%s,\"elapsed_s\":%.3f,"
	       "\"sessions\":%" PRIu64 ",\"sessions_per_s\":%.2f,\"commands\":%" PRIu64
	       ",\"commands_per_s\":%.2f,\"connect_errors\":%" PRIu64 ",\"protocol_errors\":%" PRIu64
	       ",\"bytes_in\":%" PRIu64 ",\"bytes_out\":%" PRIu64 ",\"retr_bytes\":%" PRIu64
	       ",\"retr_bytes_per_s\":%.0f,\"delivered\":%" PRIu64 ",\"delivered_per_s\":%.2f,"
	       "\"latency\":{",
	       opt.label, names[opt.mode], opt.clients, opt.tls ? "true" : "false", elapsed,
	       st.sessions, st.sessions / elapsed, cmds, cmds / elapsed, st.connect_errors,
	       st.protocol_errors, st.bytes_in, st.bytes_out, st.retr_bytes,
	       st.h[K_RETR].sum_us ? st.retr_bytes / (st.h[K_RETR].sum_us / 1e6) : 0.0,
	       st.delivered, st.delivered / elapsed);
	bool first = true;
	for (int k = 0; k < K_COUNT; k++) {
		const struct hist *h = &st.h[k];
		if (h->count == 0)
			continue;
		printf("%s\"%s\":{\"count\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"mean_ms\":%.3f,"
		       "\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"max_ms\":%.3f,"
		       "\"sum_ms\":%.3f}",
		       first ? "" : ",", kind_names[k], h->count, st.errors[k],
		       h->sum_us / 1000.0 / h->count, hist_quantile(h, 0.5) / 1000.0,
		       hist_quantile(h, 0.99) / 1000.0, hist_quantile(h, 0.999) / 1000.0,
		       h->max_us / 1000.0, h->sum_us / 1000.0);
		first = false;
	}
	printf("}}\n");
	fflush(stdout);
}

/* ---- main ---- */

static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
	stopping = true;
	maybe_finish();
}

static void hard_stop_cb(evutil_socket_t fd, short what, void *arg)
{
	fprintf(stderr, "loadgen: hard stop, %d clients still busy\n", active_clients);
	t_run_end = now_ns();
	event_base_loopbreak(base);
}

static void usage(void)
{
	fputs("usage: loadgen --mode imap-mixed|idle|login|pop3|lmtp|bigmbox --port PORT\n"
	      "  [--host 127.0.0.1] [--tls] [--source IP[,IP...]] [--clients N] [--duration S]\n"
	      "  [--users N] [--user-offset N] [--user-fmt user%d] [--pass P] [--corpus FILE]\n"
	      "  [--messages N] [--sessions N] [--mailbox M] [--header-name H]\n"
	      "  [--header-value V] [--body-word W] [--ramp N] [--min-mem-mb N] [--label L]\n",
	      stderr);
	exit(2);
}

static void parse_sources(const char *arg)
{
	char *copy = strdup(arg);
	if (copy == NULL)
		die("out of memory");
	for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		if (opt.nsources == MAX_SOURCES)
			die("at most %d source addresses", MAX_SOURCES);
		if (inet_pton(AF_INET, tok, &opt.sources[opt.nsources++]) != 1)
			die("bad source address %s", tok);
	}
	free(copy);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "mode", 1, NULL, 'm' }, { "host", 1, NULL, 'H' }, { "port", 1, NULL, 'p' },
		{ "tls", 0, NULL, 't' }, { "source", 1, NULL, 's' }, { "clients", 1, NULL, 'c' },
		{ "duration", 1, NULL, 'd' }, { "users", 1, NULL, 'u' },
		{ "user-offset", 1, NULL, 'o' }, { "user-fmt", 1, NULL, 'f' },
		{ "pass", 1, NULL, 'P' }, { "corpus", 1, NULL, 'C' }, { "messages", 1, NULL, 'n' },
		{ "sessions", 1, NULL, 'S' }, { "mailbox", 1, NULL, 'b' },
		{ "header-name", 1, NULL, 'N' }, { "header-value", 1, NULL, 'V' },
		{ "body-word", 1, NULL, 'W' }, { "ramp", 1, NULL, 'r' },
		{ "min-mem-mb", 1, NULL, 'M' }, { "label", 1, NULL, 'l' }, { NULL, 0, NULL, 0 },
	};
	const char *mode = NULL;
	int ch;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'm': mode = optarg; break;
		case 'H': opt.host = optarg; break;
		case 'p': opt.port = atoi(optarg); break;
		case 't': opt.tls = true; break;
		case 's': parse_sources(optarg); break;
		case 'c': opt.clients = atoi(optarg); break;
		case 'd': opt.duration = atof(optarg); break;
		case 'u': opt.users = atoi(optarg); break;
		case 'o': opt.user_offset = atoi(optarg); break;
		case 'f': opt.user_fmt = optarg; break;
		case 'P': opt.pass = optarg; break;
		case 'C': opt.corpus = optarg; break;
		case 'n': opt.messages = atol(optarg); break;
		case 'S': opt.sessions = atoi(optarg); break;
		case 'b': opt.mailbox = optarg; break;
		case 'N': opt.header_name = optarg; break;
		case 'V': opt.header_value = optarg; break;
		case 'W': opt.body_word = optarg; break;
		case 'r': opt.ramp = atoi(optarg); break;
		case 'M': opt.min_mem_mb = atol(optarg); break;
		case 'l': opt.label = optarg; break;
		default: usage();
		}
	}
	if (mode == NULL || opt.port <= 0 || opt.clients <= 0 || opt.users <= 0 || opt.ramp <= 0)
		usage();
	if (strcmp(mode, "imap-mixed") == 0)
		opt.mode = M_IMAP_MIXED;
	else if (strcmp(mode, "idle") == 0)
		opt.mode = M_IDLE;
	else if (strcmp(mode, "login") == 0)
		opt.mode = M_LOGIN;
	else if (strcmp(mode, "pop3") == 0)
		opt.mode = M_POP3;
	else if (strcmp(mode, "lmtp") == 0)
		opt.mode = M_LMTP;
	else if (strcmp(mode, "bigmbox") == 0)
		opt.mode = M_BIGMBOX;
	else
		usage();
	if (opt.sessions <= 0)
		opt.sessions = 1;
	/* The user name format takes one %d and nothing else. */
	const char *pct = strchr(opt.user_fmt, '%');
	if (pct == NULL || pct[1] != 'd' || strchr(pct + 2, '%') != NULL)
		die("--user-fmt must contain exactly one %%d");
	if (opt.mode == M_IMAP_MIXED || opt.mode == M_LMTP) {
		if (opt.corpus == NULL)
			die("--corpus is needed for %s", mode);
		corpus_load(opt.corpus, opt.mode == M_LMTP);
	}

	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		if ((rlim_t)opt.clients + 64 > rl.rlim_cur)
			die("--clients %d exceeds the open-file limit %llu: use more processes",
			    opt.clients, (unsigned long long)rl.rlim_cur);
	}
	signal(SIGPIPE, SIG_IGN);
	ssl_ctx = SSL_CTX_new(TLS_client_method());
	if (ssl_ctx == NULL)
		die("SSL_CTX_new failed");
	/* Loopback benchmark against self-signed certificates: no verification. */
	SSL_CTX_set_verify(ssl_ctx, SSL_VERIFY_NONE, NULL);

	base = event_base_new();
	if (base == NULL)
		die("event_base_new failed");
	clients = calloc((size_t)opt.clients, sizeof(*clients));
	if (clients == NULL)
		die("out of memory");
	for (int i = 0; i < opt.clients; i++) {
		clients[i].id = i;
		clients[i].seed = (unsigned)i * 2654435761u + 1;
	}

	t_run_start = now_ns();
	if (opt.mode == M_IDLE) {
		report_timer = event_new(base, -1, EV_PERSIST, report_check, NULL);
		struct event *in = event_new(base, 0, EV_READ | EV_PERSIST, stdin_cb, NULL);
		event_add(in, NULL);
		idle_start_more();
		event_base_dispatch(base);
		return 0;
	}
	struct timeval dur = { (time_t)opt.duration,
			       (suseconds_t)((opt.duration - (long)opt.duration) * 1e6) };
	struct timeval hard = { (time_t)opt.duration + 120, 0 };
	if (opt.mode == M_IMAP_MIXED || opt.mode == M_LOGIN || opt.mode == M_LMTP) {
		event_base_once(base, -1, EV_TIMEOUT, stop_cb, NULL, &dur);
		event_base_once(base, -1, EV_TIMEOUT, hard_stop_cb, NULL, &hard);
	}
	for (int i = 0; i < opt.clients; i++)
		client_start(&clients[i]);
	event_base_dispatch(base);
	if (t_run_end == 0)
		t_run_end = now_ns();
	print_json();
	return 0;
}
