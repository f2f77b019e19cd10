/* test-net-echo.c - the network layer driven over real loopback sockets
 * by a tiny line protocol ("echo"), compiled into this test only.
 *
 * Without arguments it runs the unit tests: an in-process server on
 * ephemeral ports, blocking client sockets in the test thread.
 * `test-net-echo serve CONFIG` instead serves the echo protocol on the
 * config's imap/imaps listeners until SIGTERM (used by the Python tests
 * in tests/integration/test_daemon_net.py and handy for manual pokes).
 *
 * Echo protocol: greeting "+OK echo ready"; every line is echoed back;
 * lines over 64 bytes answer "-ERR too long"; commands STARTTLS, COMPRESS,
 * FLOOD <n>, ASYNC, CPUHOLD, WAKE, IDLE <seconds>, INFO and QUIT. */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/ssl.h>
#include <zlib.h>

#include "lib/config.h"
#include "lib/log.h"
#include "net/conn.h"
#include "net/server.h"
#include "net/tls.h"
#include "unit.h"

#define ECHO_MAX_LINE 64

struct echo {
	struct conn *c;
	size_t flood_left;
	struct conn_wakeup *wakeup;
};

static atomic_uint closes;
static atomic_uint drained_calls;
static atomic_size_t max_output_seen;
static char last_reason[128];

static void note_output(struct conn *c)
{
	size_t n = conn_output_len(c);
	if (n > atomic_load(&max_output_seen))
		atomic_store(&max_output_seen, n);
}

static void *echo_open(struct conn *c)
{
	struct echo *e = calloc(1, sizeof(*e));
	if (e == NULL)
		return NULL;
	e->c = c;
	conn_write_cstr(c, "+OK echo ready\r\n");
	return e;
}

static void echo_flood(struct echo *e)
{
	static char chunk[8192];
	if (chunk[0] != 'x')
		memset(chunk, 'x', sizeof(chunk));
	while (e->flood_left > 0 && !conn_output_full(e->c)) {
		size_t n = e->flood_left < sizeof(chunk) ? e->flood_left : sizeof(chunk);
		conn_write(e->c, chunk, n);
		e->flood_left -= n;
		note_output(e->c);
	}
	if (e->flood_left == 0)
		conn_write_cstr(e->c, "\r\n+OK flood\r\n");
}

static void echo_work(void *arg)
{
	usleep(50 * 1000);
}

static void echo_done(void *arg)
{
	struct echo *e = arg;
	if (conn_is_closing(e->c))
		return;
	conn_write_cstr(e->c, "+OK async\r\n");
	conn_input_resume(e->c);
}

/* CPUHOLD: a job on the cpu pool that holds its thread until the test
 * posts cpu_gate (at most 10 seconds, so a failing test cannot hang). */
static sem_t cpu_gate;
static atomic_uint cpu_started, cpu_finished;

static void cpu_hold_work(void *arg)
{
	atomic_fetch_add(&cpu_started, 1);
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 10;
	while (sem_timedwait(&cpu_gate, &until) < 0 && errno == EINTR)
		;
	atomic_fetch_add(&cpu_finished, 1);
}

static void cpu_hold_done(void *arg)
{
	struct echo *e = arg;
	if (conn_is_closing(e->c))
		return;
	conn_write_cstr(e->c, "+OK cpu\r\n");
	conn_input_resume(e->c);
}

static void echo_woken(void *session)
{
	struct echo *e = session;
	conn_write_cstr(e->c, "+OK woken\r\n");
	conn_wakeup_free(&e->wakeup);
}

static void *wake_thread(void *arg)
{
	usleep(20 * 1000);
	conn_wakeup_signal(arg);
	return NULL;
}

static void echo_input(void *session)
{
	struct echo *e = session;
	struct conn *c = e->c;
	struct str line;
	int r;
	while ((r = conn_read_line(c, &line, ECHO_MAX_LINE)) != 0) {
		if (r < 0) {
			conn_write_cstr(c, "-ERR too long\r\n");
			continue;
		}
		if (str_eq(line, STR_LIT("STARTTLS"))) {
			if (!conn_tls_available(c)) {
				conn_write_cstr(c, "-ERR no tls\r\n");
				continue;
			}
			conn_write_cstr(c, "+OK begin\r\n");
			conn_starttls(c);
			return;
		}
		if (str_eq(line, STR_LIT("COMPRESS"))) {
			conn_write_cstr(c, "+OK deflate\r\n");
			conn_compress(c);
			return;
		}
		if (str_has_prefix_nocase(line, "FLOOD ")) {
			uint64_t n = 0;
			str_to_u64(str_sub(line, 6, line.len - 6), &n);
			e->flood_left = n;
			echo_flood(e);
			if (e->flood_left > 0)
				return; /* continued in output_drained */
			continue;
		}
		if (str_eq(line, STR_LIT("ASYNC"))) {
			conn_input_suspend(c);
			if (conn_run_async(c, echo_work, echo_done, e) < 0)
				conn_write_cstr(c, "-ERR async\r\n");
			return;
		}
		if (str_eq(line, STR_LIT("CPUHOLD"))) {
			conn_input_suspend(c);
			if (conn_run_async_cpu(c, cpu_hold_work, cpu_hold_done, e) < 0)
				conn_write_cstr(c, "-ERR async\r\n");
			return;
		}
		if (str_eq(line, STR_LIT("WAKE"))) {
			pthread_t t;
			e->wakeup = conn_wakeup_new(c, echo_woken);
			pthread_create(&t, NULL, wake_thread, e->wakeup);
			pthread_detach(t);
			continue;
		}
		if (str_has_prefix_nocase(line, "IDLE ")) {
			uint64_t n = 0;
			str_to_u64(str_sub(line, 5, line.len - 5), &n);
			conn_set_idle_timeout(c, (unsigned)n);
			conn_write_cstr(c, "+OK idle\r\n");
			continue;
		}
		if (str_has_prefix_nocase(line, "FILE ")) {
			/* FILE <n>: bytes 3..n-1 of a file holding "0123456789..." */
			uint64_t n = 0;
			str_to_u64(str_sub(line, 5, line.len - 5), &n);
			FILE *f = tmpfile();
			for (uint64_t i = 0; f && i < n; i++)
				fputc('0' + (int)(i % 10), f);
			if (f == NULL || fflush(f) != 0 || n < 3 ||
			    conn_write_file(c, fileno(f), 3, (size_t)n - 3) != 1)
				conn_write_cstr(c, "-ERR file");
			if (f)
				fclose(f); /* conn_write_file keeps its own dup */
			conn_write_cstr(c, "\r\n+OK file\r\n");
			continue;
		}
		if (str_eq(line, STR_LIT("INFO"))) {
			conn_printf(c, "+OK tls=%d compressed=%d loopback=%d proto=%s\r\n",
				    conn_is_tls(c), conn_is_compressed(c), conn_is_loopback(c),
				    conn_proto_name(c));
			continue;
		}
		if (str_eq(line, STR_LIT("QUIT"))) {
			conn_write_cstr(c, "+OK bye\r\n");
			conn_close(c, "quit");
			return;
		}
		conn_write(c, line.p, line.len);
		conn_write_cstr(c, "\r\n");
	}
}

static void echo_drained(void *session)
{
	struct echo *e = session;
	atomic_fetch_add(&drained_calls, 1);
	if (e->flood_left > 0) {
		echo_flood(e);
		if (e->flood_left == 0)
			echo_input(e);
	}
}

static void echo_shutdown(void *session)
{
	struct echo *e = session;
	conn_write_cstr(e->c, "* BYE shutting down\r\n");
}

static void echo_timeout(void *session)
{
	struct echo *e = session;
	conn_write_cstr(e->c, "-ERR timeout\r\n");
}

static void echo_close(void *session, const char *reason)
{
	struct echo *e = session;
	snprintf(last_reason, sizeof(last_reason), "%s", reason);
	conn_wakeup_free(&e->wakeup);
	free(e);
	atomic_fetch_add(&closes, 1);
}

static const struct proto_ops echo_ops = {
	.name = "echo",
	.open = echo_open,
	.input = echo_input,
	.output_drained = echo_drained,
	.shutdown = echo_shutdown,
	.timeout = echo_timeout,
	.close = echo_close,
};

/* ------------------------------------------------------------- server */

static struct net_server *server;
static pthread_t server_thread;
static unsigned plain_port, tls_port, v6_port;
static char cert_dir[] = "/tmp/roost-net-test-XXXXXX";

static void *server_main(void *arg)
{
	net_server_run(server);
	return NULL;
}

static void set_limits(unsigned max, unsigned per_ip, unsigned preauth)
{
	struct net_limits l = { .max_connections = max, .max_connections_per_ip = per_ip,
				.preauth_timeout = preauth, .shutdown_grace = 2 };
	net_server_set_limits(server, &l);
}

static int make_cert(struct config *config)
{
	char cmd[1024];
	if (mkdtemp(cert_dir) == NULL)
		return -1;
	snprintf(cmd, sizeof(cmd),
		 "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost "
		 "-keyout %s/key.pem -out %s/cert.pem >/dev/null 2>&1", cert_dir, cert_dir);
	if (system(cmd) != 0)
		return -1;
	free(config->tls_cert);
	free(config->tls_key);
	char path[256];
	snprintf(path, sizeof(path), "%s/cert.pem", cert_dir);
	config->tls_cert = strdup(path);
	snprintf(path, sizeof(path), "%s/key.pem", cert_dir);
	config->tls_key = strdup(path);
	return 1;
}

static int start_server(void)
{
	char err[512];
	struct config *config = config_new_defaults();
	if (config == NULL || net_global_init(err, sizeof(err)) < 0)
		return -1;
	log_set_level(getenv("ROOST_TEST_LOG") ? LOG_LVL_DEBUG : LOG_LVL_ERROR);
	if (make_cert(config) < 0 || tls_configure(config, err, sizeof(err)) < 0) {
		fprintf(stderr, "tls: %s\n", err);
		return -1;
	}
	struct net_limits limits;
	net_limits_from_config(&limits, config);
	limits.shutdown_grace = 2;
	/* One cpu thread: cpu_jobs_do_not_delay_io_jobs fills it. */
	server = net_server_new(2, 2, 1, &limits, err, sizeof(err));
	struct listener_config plain = { .proto = LISTENER_IMAP, .address = "127.0.0.1" };
	struct listener_config tls = { .proto = LISTENER_IMAPS, .address = "127.0.0.1" };
	if (server == NULL ||
	    net_server_listen(server, &plain, &echo_ops, "-ERR busy\r\n", err, sizeof(err)) < 0 ||
	    net_server_listen(server, &tls, &echo_ops, "-ERR busy\r\n", err, sizeof(err)) < 0) {
		fprintf(stderr, "server: %s\n", err);
		return -1;
	}
	plain_port = net_server_port(server, 0);
	tls_port = net_server_port(server, 1);
	int probe = socket(AF_INET6, SOCK_STREAM, 0);
	if (probe >= 0) {
		close(probe);
		struct listener_config v6 = { .proto = LISTENER_IMAP, .address = "::1" };
		if (net_server_listen(server, &v6, &echo_ops, NULL, err, sizeof(err)) == 1)
			v6_port = net_server_port(server, 2);
	}
	if (net_server_start(server, err, sizeof(err)) < 0) {
		fprintf(stderr, "server: %s\n", err);
		return -1;
	}
	config_free(&config);
	return pthread_create(&server_thread, NULL, server_main, NULL) == 0 ? 1 : -1;
}

/* ------------------------------------------------------------- client */

static int client_connect(unsigned port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	struct timeval tv = { 5, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void send_all(int fd, const char *s, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, s, len, MSG_NOSIGNAL);
		if (n <= 0)
			return;
		s += n;
		len -= (size_t)n;
	}
}

static void send_str(int fd, const char *s)
{
	send_all(fd, s, strlen(s));
}

/* Reads one line (without CRLF) into buf; returns its length or -1 at EOF
 * or timeout. */
static int recv_line(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	for (;;) {
		char ch;
		ssize_t r = recv(fd, &ch, 1, 0);
		if (r <= 0)
			return -1;
		if (ch == '\n')
			break;
		if (n + 1 < cap)
			buf[n++] = ch;
	}
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	return (int)n;
}

static bool expect_line(int fd, const char *want)
{
	char buf[512];
	if (recv_line(fd, buf, sizeof(buf)) < 0) {
		fprintf(stderr, "  expected \"%s\", got EOF/timeout\n", want);
		return false;
	}
	if (strcmp(buf, want) != 0) {
		fprintf(stderr, "  expected \"%s\", got \"%s\"\n", want, buf);
		return false;
	}
	return true;
}

/* The server closed with a FIN. (Not a reset: before closing, the server
 * reads away input that arrived after it stopped reading, so that a reset
 * cannot destroy its goodbye in our receive queue.) */
static bool expect_eof(int fd)
{
	char ch;
	return recv(fd, &ch, 1, 0) == 0;
}

static int greeted(unsigned port)
{
	int fd = client_connect(port);
	if (fd >= 0 && !expect_line(fd, "+OK echo ready")) {
		close(fd);
		return -1;
	}
	return fd;
}

static void wait_connections(unsigned n)
{
	for (int i = 0; i < 200 && net_server_connections(server) != n; i++)
		usleep(10 * 1000);
}

/* -------------------------------------------------------------- tests */

TEST(lines_are_echoed_crlf_or_lf)
{
	int fd = greeted(plain_port);
	CHECK(fd >= 0);
	send_str(fd, "hello\r\nworld\n\r\n");
	CHECK(expect_line(fd, "hello"));
	CHECK(expect_line(fd, "world"));
	CHECK(expect_line(fd, ""));
	send_str(fd, "INFO\r\n");
	CHECK(expect_line(fd, "+OK tls=0 compressed=0 loopback=1 proto=echo"));
	close(fd);
}

TEST(line_split_byte_by_byte)
{
	int fd = greeted(plain_port);
	const char *msg = "split me\r\n";
	for (const char *p = msg; *p; p++) {
		send_all(fd, p, 1);
		usleep(2000);
	}
	CHECK(expect_line(fd, "split me"));
	close(fd);
}

TEST(line_length_limit_exact_and_over)
{
	int fd = greeted(plain_port);
	char line[ECHO_MAX_LINE + 8];
	memset(line, 'a', ECHO_MAX_LINE);
	line[ECHO_MAX_LINE] = '\0';
	send_str(fd, line);
	send_str(fd, "\r\n");
	CHECK(expect_line(fd, line));
	memset(line, 'b', ECHO_MAX_LINE + 1);
	line[ECHO_MAX_LINE + 1] = '\0';
	send_str(fd, line);
	send_str(fd, "\r\nnext\r\n");
	CHECK(expect_line(fd, "-ERR too long"));
	CHECK(expect_line(fd, "next"));
	close(fd);
}

TEST(long_line_discarded_over_several_reads)
{
	int fd = greeted(plain_port);
	char chunk[1000];
	memset(chunk, 'z', sizeof(chunk));
	for (int i = 0; i < 50; i++) {
		send_all(fd, chunk, sizeof(chunk));
		usleep(1000);
	}
	/* Nothing is answered before the LF arrives. */
	send_str(fd, "\r\n");
	CHECK(expect_line(fd, "-ERR too long"));
	send_str(fd, "after\r\n");
	CHECK(expect_line(fd, "after"));
	close(fd);
}

TEST(per_ip_limit_refuses_with_busy_line)
{
	set_limits(1000, 3, 60);
	wait_connections(0);
	int fds[3];
	for (int i = 0; i < 3; i++) {
		fds[i] = greeted(plain_port);
		CHECK(fds[i] >= 0);
	}
	int extra = client_connect(plain_port);
	CHECK(expect_line(extra, "-ERR busy"));
	CHECK(expect_eof(extra));
	close(extra);
	close(fds[0]);
	wait_connections(2);
	int again = greeted(plain_port);
	CHECK(again >= 0);
	close(again);
	close(fds[1]);
	close(fds[2]);
	wait_connections(0);
	set_limits(1000, 100, 60);
}

TEST(global_limit_refuses)
{
	set_limits(2, 100, 60);
	wait_connections(0);
	int a = greeted(plain_port), b = greeted(plain_port);
	CHECK(a >= 0 && b >= 0);
	int extra = client_connect(plain_port);
	CHECK(expect_line(extra, "-ERR busy"));
	close(extra);
	/* Implicit TLS listeners just close: a refusal would need a handshake. */
	extra = client_connect(tls_port);
	CHECK(expect_eof(extra));
	close(extra);
	close(a);
	close(b);
	wait_connections(0);
	set_limits(1000, 100, 60);
}

TEST(preauth_timeout_says_goodbye_and_closes)
{
	set_limits(1000, 100, 1);
	int fd = greeted(plain_port);
	set_limits(1000, 100, 60);
	CHECK(expect_line(fd, "-ERR timeout"));
	CHECK(expect_eof(fd));
	close(fd);
	wait_connections(0);
	CHECK_STREQ(last_reason, "timeout");
}

TEST(idle_timeout_can_be_changed_and_input_resets_it)
{
	int fd = greeted(plain_port);
	send_str(fd, "IDLE 2\r\n");
	CHECK(expect_line(fd, "+OK idle"));
	for (int i = 0; i < 3; i++) {
		usleep(1000 * 1000);
		send_str(fd, "ping\r\n");
		CHECK(expect_line(fd, "ping"));
	}
	CHECK(expect_line(fd, "-ERR timeout"));
	close(fd);
}

TEST(back_pressure_bounds_output_and_calls_drained)
{
	int fd = greeted(plain_port);
	atomic_store(&max_output_seen, 0);
	unsigned drained_before = atomic_load(&drained_calls);
	int small = 4096;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	size_t total = 4 * 1024 * 1024;
	char cmd[64];
	snprintf(cmd, sizeof(cmd), "FLOOD %zu\r\npipelined\r\n", total);
	send_str(fd, cmd);
	usleep(300 * 1000); /* let the server hit the high-water mark */
	static char buf[65536];
	size_t got = 0;
	while (got < total) {
		ssize_t n = recv(fd, buf, total - got < sizeof(buf) ? total - got : sizeof(buf), 0);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	CHECK(got == total);
	CHECK(expect_line(fd, ""));
	CHECK(expect_line(fd, "+OK flood"));
	CHECK(expect_line(fd, "pipelined"));
	CHECK(atomic_load(&drained_calls) > drained_before);
	/* Queued output never grew far past the high-water mark (64 KiB). */
	CHECK(atomic_load(&max_output_seen) <= 64 * 1024 + 8192);
	close(fd);
}

TEST(async_job_completes_on_worker_then_input_resumes)
{
	int fd = greeted(plain_port);
	send_str(fd, "ASYNC\r\nafter\r\n");
	CHECK(expect_line(fd, "+OK async"));
	CHECK(expect_line(fd, "after"));
	close(fd);
}

TEST(async_job_survives_peer_going_away)
{
	unsigned before = atomic_load(&closes);
	int fd = greeted(plain_port);
	send_str(fd, "ASYNC\r\n");
	close(fd);
	for (int i = 0; i < 200 && atomic_load(&closes) == before; i++)
		usleep(10 * 1000);
	CHECK(atomic_load(&closes) == before + 1);
}

/* Password hashing runs on the cpu pool: however many hashes are running
 * or queued there, a store job (io pool) of another session runs at once.
 * The cpu jobs here hold the single cpu thread until released, so if the
 * ASYNC job were queued behind them its reply would time out (5 s) while
 * they still hold. */
TEST(cpu_jobs_do_not_delay_io_jobs)
{
	unsigned started = atomic_load(&cpu_started);
	unsigned finished = atomic_load(&cpu_finished);
	int holders[3];
	for (int i = 0; i < 3; i++) {
		holders[i] = greeted(plain_port);
		send_str(holders[i], "CPUHOLD\r\n");
	}
	for (int i = 0; i < 500 && atomic_load(&cpu_started) == started; i++)
		usleep(10 * 1000);
	/* One runs (the pool has one thread), two wait in its queue. */
	CHECK(atomic_load(&cpu_started) == started + 1);

	int fd = greeted(plain_port);
	send_str(fd, "ASYNC\r\nafter\r\n");
	CHECK(expect_line(fd, "+OK async"));
	CHECK(expect_line(fd, "after"));
	CHECK(atomic_load(&cpu_finished) == finished);
	close(fd);

	for (int i = 0; i < 3; i++)
		sem_post(&cpu_gate);
	for (int i = 0; i < 3; i++) {
		CHECK(expect_line(holders[i], "+OK cpu"));
		close(holders[i]);
	}
	CHECK(atomic_load(&cpu_finished) == finished + 3);
}

TEST(wakeup_from_another_thread)
{
	int fd = greeted(plain_port);
	send_str(fd, "WAKE\r\n");
	CHECK(expect_line(fd, "+OK woken"));
	close(fd);
}

TEST(quit_flushes_then_closes)
{
	wait_connections(0);
	int fd = greeted(plain_port);
	send_str(fd, "QUIT\r\nignored\r\n");
	CHECK(expect_line(fd, "+OK bye"));
	CHECK(expect_eof(fd));
	close(fd);
	wait_connections(0);
	CHECK_STREQ(last_reason, "quit");
}

/* Raw DEFLATE both ways, as an IMAP client does after COMPRESS. */
TEST(compress_deflate_both_ways)
{
	int fd = greeted(plain_port);
	send_str(fd, "COMPRESS\r\n");
	CHECK(expect_line(fd, "+OK deflate"));
	z_stream out = { 0 }, in = { 0 };
	CHECK(deflateInit2(&out, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) == Z_OK);
	CHECK(inflateInit2(&in, -15) == Z_OK);
	char plain[] = "hello compressed\r\nINFO\r\n";
	unsigned char zbuf[256];
	out.next_in = (unsigned char *)plain;
	out.avail_in = (uInt)strlen(plain);
	out.next_out = zbuf;
	out.avail_out = sizeof(zbuf);
	CHECK(deflate(&out, Z_SYNC_FLUSH) == Z_OK);
	send_all(fd, (char *)zbuf, sizeof(zbuf) - out.avail_out);
	char text[512];
	size_t have = 0;
	const char *want = "hello compressed\r\n+OK tls=0 compressed=1 loopback=1 proto=echo\r\n";
	while (have < strlen(want)) {
		unsigned char raw[512];
		ssize_t n = recv(fd, raw, sizeof(raw), 0);
		if (n <= 0)
			break;
		in.next_in = raw;
		in.avail_in = (uInt)n;
		in.next_out = (unsigned char *)text + have;
		in.avail_out = (uInt)(sizeof(text) - 1 - have);
		CHECK(inflate(&in, Z_SYNC_FLUSH) != Z_DATA_ERROR);
		have = sizeof(text) - 1 - in.avail_out;
	}
	text[have] = '\0';
	CHECK_STREQ(text, want);
	deflateEnd(&out);
	inflateEnd(&in);
	close(fd);
}

static SSL_CTX *client_ctx(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	return ctx;
}

static int ssl_line(SSL *ssl, char *buf, size_t cap)
{
	size_t n = 0;
	for (;;) {
		char ch;
		if (SSL_read(ssl, &ch, 1) != 1)
			return -1;
		if (ch == '\n')
			break;
		if (n + 1 < cap)
			buf[n++] = ch;
	}
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	return (int)n;
}

/* CVE-2011-0411: a line pipelined after STARTTLS in the same packet must
 * be thrown away, not executed as if it had come through TLS. */
TEST(starttls_discards_pipelined_plaintext)
{
	int fd = greeted(plain_port);
	send_str(fd, "STARTTLS\r\nINJECTED\r\n");
	CHECK(expect_line(fd, "+OK begin"));
	SSL_CTX *ctx = client_ctx();
	SSL *ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	CHECK(SSL_connect(ssl) == 1);
	SSL_write(ssl, "INFO\r\n", 6);
	char buf[256];
	CHECK(ssl_line(ssl, buf, sizeof(buf)) > 0);
	CHECK_STREQ(buf, "+OK tls=1 compressed=0 loopback=1 proto=echo");
	SSL_write(ssl, "STARTTLS\r\n", 10);
	CHECK(ssl_line(ssl, buf, sizeof(buf)) > 0);
	CHECK_STREQ(buf, "-ERR no tls");
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
}

TEST(implicit_tls_greeting_after_handshake_then_compress)
{
	int fd = client_connect(tls_port);
	SSL_CTX *ctx = client_ctx();
	SSL *ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	CHECK(SSL_connect(ssl) == 1);
	CHECK(SSL_version(ssl) >= TLS1_2_VERSION);
	char buf[256];
	CHECK(ssl_line(ssl, buf, sizeof(buf)) > 0);
	CHECK_STREQ(buf, "+OK echo ready");
	SSL_write(ssl, "INFO\r\n", 6);
	CHECK(ssl_line(ssl, buf, sizeof(buf)) > 0);
	CHECK_STREQ(buf, "+OK tls=1 compressed=0 loopback=1 proto=echo");
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
}

static void expect_file(const char *got, size_t len, size_t n)
{
	bool ok = len == n - 3;
	for (size_t i = 0; ok && i < len; i++)
		ok = got[i] == (char)('0' + (i + 3) % 10);
	CHECK(ok);
}

TEST(write_file_plain)
{
	int fd = greeted(plain_port);
	size_t n = 300000;
	send_str(fd, "FILE 300000\r\n");
	static char got[300000];
	size_t have = 0;
	while (have < n - 3) {
		ssize_t r = recv(fd, got + have, n - 3 - have, 0);
		if (r <= 0)
			break;
		have += (size_t)r;
	}
	expect_file(got, have, n);
	CHECK(expect_line(fd, ""));
	CHECK(expect_line(fd, "+OK file"));
	close(fd);
}

TEST(write_file_through_tls)
{
	int fd = client_connect(tls_port);
	SSL_CTX *ctx = client_ctx();
	SSL *ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	CHECK(SSL_connect(ssl) == 1);
	char buf[256];
	CHECK(ssl_line(ssl, buf, sizeof(buf)) > 0);
	SSL_write(ssl, "FILE 100000\r\n", 13);
	static char got[100000];
	size_t have = 0, n = 100000;
	while (have < n - 3) {
		int r = SSL_read(ssl, got + have, (int)(n - 3 - have));
		if (r <= 0)
			break;
		have += (size_t)r;
	}
	expect_file(got, have, n);
	CHECK(ssl_line(ssl, buf, sizeof(buf)) == 0);
	CHECK(ssl_line(ssl, buf, sizeof(buf)) > 0);
	CHECK_STREQ(buf, "+OK file");
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
}

TEST(ipv6_loopback_listener)
{
	if (v6_port == 0)
		return; /* no IPv6 on this host */
	int fd = socket(AF_INET6, SOCK_STREAM, 0);
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)v6_port),
				     .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	struct timeval tv = { 5, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	CHECK(connect(fd, (struct sockaddr *)&sin6, sizeof(sin6)) == 0);
	CHECK(expect_line(fd, "+OK echo ready"));
	send_str(fd, "INFO\r\n");
	CHECK(expect_line(fd, "+OK tls=0 compressed=0 loopback=1 proto=echo"));
	close(fd);
}

TEST(idle_connection_memory_is_small)
{
	wait_connections(0);
	set_limits(1000, 1000, 60);
	enum { N = 200 };
	static int fds[N];
	struct mallinfo2 before = mallinfo2();
	for (int i = 0; i < N; i++)
		fds[i] = greeted(plain_port);
	struct mallinfo2 after = mallinfo2();
	size_t per_conn = (after.uordblks - before.uordblks) / N;
	fprintf(stderr, "  heap per idle plain connection: %zu bytes\n", per_conn);
	CHECK(per_conn < 4096);
	for (int i = 0; i < N; i++)
		close(fds[i]);
	wait_connections(0);
}

static void shutdown_cb(evutil_socket_t fd, short what, void *arg)
{
	net_server_shutdown(server);
}

/* Runs last (tests run in file order): the server says goodbye. */
TEST(shutdown_sends_goodbye_and_closes_everything)
{
	int a = greeted(plain_port), b = greeted(plain_port);
	send_str(a, "ASYNC\r\n");
	struct event_base *base = net_server_base(server);
	/* net_server_shutdown belongs on the acceptor thread. */
	event_base_once(base, -1, EV_TIMEOUT, shutdown_cb, NULL, NULL);
	/* The async job still completes (its done() sees the connection
	 * closing and writes nothing), then the connection goes. */
	CHECK(expect_line(a, "* BYE shutting down"));
	CHECK(expect_eof(a));
	CHECK(expect_line(b, "* BYE shutting down"));
	CHECK(expect_eof(b));
	pthread_join(server_thread, NULL);
	CHECK(net_server_connections(server) == 0);
	net_server_free(&server);
	CHECK(server == NULL);
	close(a);
	close(b);
}

/* --------------------------------------------------------------- main */

static struct event *sig_term, *sig_hup;
static const char *serve_config_path;

static void serve_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	if (sig == SIGHUP) {
		char err[512];
		struct config *config = NULL;
		if (config_load(serve_config_path, &config, err, sizeof(err)) < 0 ||
		    tls_configure(config, err, sizeof(err)) < 0)
			log_error("reload", "error=\"%s\"", err);
		else
			log_info("reload", "tls=reloaded");
		config_free(&config);
		return;
	}
	event_del(sig_term);
	event_del(sig_hup);
	net_server_shutdown(server);
}

/* test-net-echo serve CONFIG: the echo protocol on the config's imap and
 * imaps listeners, with its limits and TLS; SIGHUP reloads TLS, SIGTERM
 * shuts down. Prints "ready" once listening. */
static int serve(const char *path)
{
	char err[512];
	struct config *config = NULL;
	serve_config_path = path;
	if (config_load(path, &config, err, sizeof(err)) < 0 || net_global_init(err, sizeof(err)) < 0 ||
	    tls_configure(config, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 78;
	}
	struct net_limits limits;
	net_limits_from_config(&limits, config);
	server = net_server_new(config->workers, config->async_threads, config->cpu_threads, &limits,
				err, sizeof(err));
	if (server == NULL)
		goto fail;
	for (unsigned i = 0; i < config->n_listeners; i++)
		if (net_server_listen(server, &config->listeners[i], &echo_ops, "-ERR busy\r\n", err,
				      sizeof(err)) < 0)
			goto fail;
	sig_term = evsignal_new(net_server_base(server), SIGTERM, serve_signal_cb, NULL);
	sig_hup = evsignal_new(net_server_base(server), SIGHUP, serve_signal_cb, NULL);
	event_add(sig_term, NULL);
	event_add(sig_hup, NULL);
	if (net_server_start(server, err, sizeof(err)) < 0)
		goto fail;
	printf("ready\n");
	fflush(stdout);
	net_server_run(server);
	event_free(sig_term);
	event_free(sig_hup);
	net_server_free(&server);
	tls_deinit();
	config_free(&config);
	return 0;
fail:
	fprintf(stderr, "%s\n", err);
	return 1;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "serve") == 0)
		return serve(argv[2]);
	mallopt(M_ARENA_MAX, 1);
	sem_init(&cpu_gate, 0, 0);
	if (start_server() < 0) {
		fprintf(stderr, "cannot start the test server\n");
		return 1;
	}
	/* One malloc arena, so mallinfo2() sees the workers' allocations. */
	int rc = unit_run(argc, argv);
	tls_deinit();
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", cert_dir);
	if (system(cmd) != 0)
		rc = 1;
	return rc;
}
