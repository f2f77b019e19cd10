/* The append path's overlapped fsyncs (sqlite-sync.c) and large blob
 * writes, checked by what ends up in the files. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/sqlite-sync.h"
#include "test-store-util.h"
#include "unit.h"

TEST(sync_job_reports_success_and_fsync_errors)
{
	char dir[] = "/tmp/roost-sync-test.XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	CHECK(dfd >= 0);
	struct sq_sync_job job;
	sq_sync_start(&job, dfd);
	CHECK(sq_sync_finish(&job) == 0);

	/* fsync of a pipe fails with EINVAL: the caller gets fsync's errno,
	 * whichever thread ran it. */
	int p[2];
	CHECK(pipe(p) == 0);
	sq_sync_start(&job, p[0]);
	usleep(2000); /* let a helper take it */
	errno = 0;
	CHECK(sq_sync_finish(&job) == -1);
	CHECK(errno == EINVAL);
	sq_sync_start(&job, p[1]);
	errno = 0;
	CHECK(sq_sync_finish(&job) == -1); /* likely taken back: same answer */
	CHECK(errno == EINVAL);
	close(p[0]);
	close(p[1]);
	close(dfd);
	rmdir(dir);
}

/* Many more jobs at once than helpers, finished in reverse order: each is
 * either run by a helper or taken back, and every one reports. */
TEST(sync_more_jobs_than_helpers)
{
	enum { N = 64 };
	char dir[] = "/tmp/roost-sync-test.XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	struct sq_sync_job jobs[N];
	int fds[N];
	for (int i = 0; i < N; i++) {
		char path[128];
		snprintf(path, sizeof(path), "%s/f%d", dir, i);
		fds[i] = open(path, O_WRONLY | O_CREAT, 0600);
		CHECK(fds[i] >= 0);
		CHECK(write(fds[i], "x", 1) == 1);
		sq_sync_start(&jobs[i], i % 2 ? fds[i] : -1);
	}
	for (int i = N - 1; i >= 0; i--) {
		errno = 0;
		int ret = sq_sync_finish(&jobs[i]);
		if (i % 2) {
			CHECK(ret == 0);
		} else {
			CHECK(ret == -1);
			CHECK(errno == EBADF);
		}
	}
	for (int i = 0; i < N; i++) {
		char path[128];
		snprintf(path, sizeof(path), "%s/f%d", dir, i);
		close(fds[i]);
		unlink(path);
	}
	rmdir(dir);
}

/* A child forked while the helpers wait inherits their lock and condition
 * variables but not the threads: its jobs must still finish. */
TEST(sync_in_a_forked_child)
{
	char dir[] = "/tmp/roost-sync-test.XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	struct sq_sync_job job;
	sq_sync_start(&job, dfd); /* the helpers are running from here on */
	CHECK(sq_sync_finish(&job) == 0);
	usleep(1000); /* let them all wait on the condition variable */
	pid_t pid = fork();
	if (pid == 0) {
		alarm(10);
		int bad = 0;
		for (int i = 0; i < 20; i++) {
			sq_sync_start(&job, dfd);
			bad += sq_sync_finish(&job) != 0;
		}
		_exit(bad);
	}
	int status = 0;
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* and the parent's helpers still work */
	sq_sync_start(&job, dfd);
	CHECK(sq_sync_finish(&job) == 0);
	close(dfd);
	rmdir(dir);
}

struct worker_arg {
	const char *dir;
	int id;
	int failures;
};

static void *sync_worker(void *arg)
{
	struct worker_arg *w = arg;
	int dfd = open(w->dir, O_RDONLY | O_DIRECTORY);
	for (int i = 0; i < 40; i++) {
		char path[128];
		snprintf(path, sizeof(path), "%s/w%d-%d", w->dir, w->id, i);
		int fd = open(path, O_WRONLY | O_CREAT, 0600);
		struct sq_sync_job job;
		sq_sync_start(&job, dfd);
		if (fd < 0 || write(fd, "data", 4) != 4 || fsync(fd) < 0)
			w->failures++;
		if (sq_sync_finish(&job) < 0)
			w->failures++;
		close(fd);
		unlink(path);
	}
	close(dfd);
	return NULL;
}

TEST(sync_from_many_threads)
{
	char dir[] = "/tmp/roost-sync-test.XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	pthread_t t[8];
	struct worker_arg args[8];
	for (int i = 0; i < 8; i++) {
		args[i] = (struct worker_arg){ dir, i, 0 };
		CHECK(pthread_create(&t[i], NULL, sync_worker, &args[i]) == 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		CHECK(args[i].failures == 0);
	}
	rmdir(dir);
}

static void fill(char *p, size_t n, unsigned seed)
{
	uint32_t x = seed | 1;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (i % 73 == 72) ? '\n' : (char)('a' + x % 26);
	}
}

static bool file_equals(struct store_user *u, uint64_t mailbox, uint32_t uid, const char *want,
			size_t want_len)
{
	struct store_msg_list *l;
	if (store_msg_list_load(u, mailbox, &l) != 1)
		return false;
	long i = store_msg_list_find(l, uid);
	bool ok = false;
	int fd;
	uint64_t size;
	if (i >= 0 && store_msg_open(u, l->msgs[i].blob_id, &fd, &size) == 1) {
		char *got = malloc(size + 1);
		ok = got != NULL && size == want_len &&
		     pread(fd, got, size, 0) == (ssize_t)size && memcmp(got, want, size) == 0;
		free(got);
		close(fd);
	}
	store_msg_list_free(&l);
	return ok;
}

/* Pieces of every size around the blob's 16 KiB buffer, raw: the file
 * holds exactly their concatenation, in order. */
TEST(blob_large_and_small_pieces_keep_order)
{
	struct store_user *u = tsu_setup();
	CHECK(u != NULL);
	uint64_t inbox = tsu_mailbox(u, "INBOX");
	static const size_t sizes[] = { 1, 16383, 16384, 16385, 3, 100000, 5, 16384, 70000, 2 };
	size_t total = 0;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		total += sizes[i];
	char *want = malloc(total);
	CHECK(want != NULL);
	fill(want, total, 7);
	struct store_blob *b;
	CHECK(store_blob_begin(u, false, &b) == 1);
	size_t off = 0;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		CHECK(store_blob_write(b, want + off, sizes[i]) == 1);
		off += sizes[i];
	}
	CHECK(store_blob_size(b) == total);
	struct store_append_req req = { 0 };
	uint32_t uid = 0, uv = 0;
	CHECK(store_append(u, inbox, &b, &req, &uid, &uv) == 1);
	CHECK(file_equals(u, inbox, uid, want, total));

	/* With LF -> CRLF: long runs without a line end go through the
	 * direct write too, and every bare LF still becomes CRLF. */
	size_t n = 50000;
	char *raw = malloc(n);
	char *conv = malloc(2 * n);
	CHECK(raw != NULL && conv != NULL);
	memset(raw, 'q', n);
	raw[20000] = '\n';
	raw[n - 1] = '\n';
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		if (raw[i] == '\n')
			conv[m++] = '\r';
		conv[m++] = raw[i];
	}
	CHECK(store_blob_begin(u, true, &b) == 1);
	CHECK(store_blob_write(b, raw, 7) == 1);
	CHECK(store_blob_write(b, raw + 7, n - 7) == 1);
	CHECK(store_append(u, inbox, &b, &req, &uid, &uv) == 1);
	CHECK(file_equals(u, inbox, uid, conv, m));
	free(raw);
	free(conv);
	free(want);
	tsu_teardown(&u);
}

/* One transaction of many messages spread over many msg/<xx> directories:
 * every file is there, whole, after the commit. */
TEST(append_batch_over_many_directories)
{
	struct store_user *u = tsu_setup();
	CHECK(u != NULL);
	uint64_t inbox = tsu_mailbox(u, "INBOX");
	enum { N = 40 };
	struct store_blob *bs[N];
	struct store_append_req reqs[N];
	uint32_t uids[N], uv;
	char texts[N][64];
	memset(reqs, 0, sizeof(reqs));
	for (int i = 0; i < N; i++) {
		int len = snprintf(texts[i], sizeof(texts[i]), "Subject: m%d\r\n\r\nbody %d\r\n", i, i);
		CHECK(store_blob_begin(u, false, &bs[i]) == 1);
		CHECK(store_blob_write(bs[i], texts[i], (size_t)len) == 1);
	}
	CHECK(store_append_multi(u, inbox, bs, reqs, N, uids, &uv) == 1);
	for (int i = 0; i < N; i++)
		CHECK(file_equals(u, inbox, uids[i], texts[i], strlen(texts[i])));
	tsu_teardown(&u);
}

UNIT_MAIN()
