/* Store tests that need threads, processes or interposed syscalls:
 * concurrent writers, cross-process changes, the durability order of an
 * append, a crash mid-append (fork + SIGKILL) followed by fsck, fsck
 * repairs, and the cost of loading a big mailbox. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test-store-util.h"

static const char MSG[] = "From: a@example.com\r\nSubject: s\r\n\r\nbody\r\n";

/* ------------------------------------------------------------------ */
/* syscall interposition: the test binary's fsync/fdatasync/rename
 * override libc's for libstore.a and libsqlite3 alike, so the order of
 * durability steps can be observed. */

#define EV_MAX 256
static pthread_mutex_t ev_lock = PTHREAD_MUTEX_INITIALIZER;
static bool ev_on;
static int ev_n;
static char ev[EV_MAX][300];

static void ev_add(const char *what, const char *path)
{
	pthread_mutex_lock(&ev_lock);
	if (ev_on && ev_n < EV_MAX)
		snprintf(ev[ev_n++], sizeof(ev[0]), "%s %s", what, path);
	pthread_mutex_unlock(&ev_lock);
}

static void ev_fd(const char *what, int fd)
{
	char link[64], path[256];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, path, sizeof(path) - 1);
	path[n > 0 ? n : 0] = '\0';
	ev_add(what, path);
}

int fsync(int fd)
{
	ev_fd("fsync", fd);
	return (int)syscall(SYS_fsync, fd);
}

int fdatasync(int fd)
{
	ev_fd("fsync", fd);
	return (int)syscall(SYS_fdatasync, fd);
}

int rename(const char *from, const char *to)
{
	ev_add("rename", to);
	return (int)syscall(SYS_rename, from, to);
}

static int ev_find(const char *prefix, const char *contains, int from)
{
	for (int i = from; i < ev_n; i++)
		if (strncmp(ev[i], prefix, strlen(prefix)) == 0 && strstr(ev[i], contains))
			return i;
	return -1;
}

TEST(append_durability_order)
{
	struct store_user *u = tsu_setup();
	uint64_t inbox = tsu_mailbox(u, "INBOX");
	struct store_blob *b;
	CHECK(store_blob_begin(u, false, &b) == 1);
	/* Large enough to be a file: small ones are the next test's. */
	CHECK(store_blob_write(b, tsu_big_msg(), strlen(tsu_big_msg())) == 1);
	struct store_append_req req;
	memset(&req, 0, sizeof(req));
	uint32_t uid, uv;
	pthread_mutex_lock(&ev_lock);
	ev_on = true;
	ev_n = 0;
	pthread_mutex_unlock(&ev_lock);
	CHECK(store_append(u, inbox, &b, &req, &uid, &uv) == 1);
	pthread_mutex_lock(&ev_lock);
	ev_on = false;
	pthread_mutex_unlock(&ev_lock);
	/* rename(tmp -> msg/xx/id), then fsync of the file and of msg/xx
	 * (either order), and only then the first WAL sync: the commit. */
	int ren = ev_find("rename", "/msg/", 0);
	char file_ev[320] = "", dir_ev[320] = "";
	if (ren >= 0) {
		snprintf(file_ev, sizeof(file_ev), "fsync %s", ev[ren] + strlen("rename "));
		snprintf(dir_ev, sizeof(dir_ev), "%s", file_ev);
		char *slash = strrchr(dir_ev, '/');
		if (slash != NULL)
			*slash = '\0';
	}
	int f_file = -1, f_dir = -1;
	for (int i = ren >= 0 ? ren + 1 : ev_n; i < ev_n; i++) {
		if (f_file < 0 && strcmp(ev[i], file_ev) == 0)
			f_file = i;
		if (f_dir < 0 && strcmp(ev[i], dir_ev) == 0)
			f_dir = i;
	}
	int last = f_file > f_dir ? f_file : f_dir;
	int f_wal = last >= 0 ? ev_find("fsync", "store.db-wal", last + 1) : -1;
	int f_wal_early = ev_find("fsync", "store.db-wal", 0);
	if (!(ren >= 0 && f_file > ren && f_dir > ren && f_wal > last && f_wal_early == f_wal))
		for (int i = 0; i < ev_n; i++)
			fprintf(stderr, "  event: %s\n", ev[i]);
	CHECK(ren >= 0);
	CHECK(f_file > ren);
	CHECK(f_dir > ren);
	CHECK(f_wal > f_file && f_wal > f_dir);
	CHECK(f_wal_early == f_wal); /* nothing committed before the file was durable */
	/* Neither the temp file nor msg/ itself is synced: the 256 msg/xx
	 * directories exist from the user's creation. */
	CHECK(ev_find("fsync", "/alice/tmp/", 0) < 0);
	int msg_dir_sync = -1;
	for (int i = 0; i < ev_n; i++) {
		size_t len = strlen(ev[i]);
		if (strncmp(ev[i], "fsync ", 6) == 0 && len > 4 && strcmp(ev[i] + len - 4, "/msg") == 0)
			msg_dir_sync = i;
	}
	CHECK(msg_dir_sync < 0);
	tsu_teardown(&u);
}

/* store_msg_open gives exactly the bytes of expect. */
static bool reads_back(struct store_user *u, uint64_t blob, const char *expect)
{
	int fd;
	uint64_t size;
	char text[256];
	size_t len = strlen(expect);
	if (store_msg_open(u, blob, &fd, &size) != 1)
		return false;
	bool ok = size == len && pread(fd, text, sizeof(text), 0) == (ssize_t)len &&
		  memcmp(text, expect, len) == 0;
	close(fd);
	return ok;
}

/* store_msg_cache gives a (possibly rebuilt) structure cache. */
static bool has_cache(struct store_user *u, uint64_t blob)
{
	struct buf cache = BUF_INIT(1 << 20);
	bool ok = store_msg_cache(u, blob, &cache) == 1 && cache.len > 0;
	buf_free(&cache);
	return ok;
}

/* A message that fits STORE_BLOB_INLINE_MAX is kept in the database: no
 * file, no rename, no sync but the commit's; read back byte for byte;
 * its text goes with its last reference. */
TEST(small_message_is_stored_in_the_database)
{
	struct store_user *u = tsu_setup();
	uint64_t inbox = tsu_mailbox(u, "INBOX");
	pthread_mutex_lock(&ev_lock);
	ev_on = true;
	ev_n = 0;
	pthread_mutex_unlock(&ev_lock);
	CHECK(tsu_append(u, inbox, MSG, 0, NULL) == 1);
	pthread_mutex_lock(&ev_lock);
	ev_on = false;
	pthread_mutex_unlock(&ev_lock);
	CHECK(ev_find("rename", "", 0) < 0);
	CHECK(ev_find("fsync", "/msg/", 0) < 0);
	CHECK(ev_find("fsync", "/alice/tmp", 0) < 0);
	CHECK(ev_find("fsync", "store.db-wal", 0) >= 0);

	struct store_msg_list *l;
	CHECK(store_msg_list_load(u, inbox, &l) == 1);
	CHECK(l->count == 1);
	uint64_t blob = l->msgs[0].blob_id;
	store_msg_list_free(&l);
	char path[512];
	snprintf(path, sizeof(path), "%s/users/alice/msg/%02x/%016llx", tsu_dir,
		 (unsigned)(blob & 0xff), (unsigned long long)blob);
	struct stat sb;
	CHECK(stat(path, &sb) < 0 && errno == ENOENT);
	CHECK(reads_back(u, blob, MSG));
	CHECK(has_cache(u, blob));
	int fd;
	uint64_t size;

	/* The largest message kept in the database, and one byte more. */
	static char edge[STORE_BLOB_INLINE_MAX + 2];
	memset(edge, 'x', sizeof(edge) - 1);
	memcpy(edge, "Subject: e\r\n\r\n", 14);
	edge[STORE_BLOB_INLINE_MAX] = '\0';
	CHECK(tsu_append(u, inbox, edge, 0, NULL) == 2);
	edge[STORE_BLOB_INLINE_MAX] = 'x';
	CHECK(tsu_append(u, inbox, edge, 0, NULL) == 3);
	CHECK(tsu_db_int("store.db", "SELECT count(*) FROM blob_body") == 2);
	CHECK(tsu_db_int("store.db", "SELECT max(length(body)) FROM blob_body") == STORE_BLOB_INLINE_MAX);
	CHECK(store_msg_list_load(u, inbox, &l) == 1);
	CHECK(store_msg_open(u, l->msgs[2].blob_id, &fd, &size) == 1);
	CHECK(size == STORE_BLOB_INLINE_MAX + 1);
	close(fd);
	store_msg_list_free(&l);

	/* Copied, then expunged from both: the text goes with the last. */
	struct store_uid_range r = { 1, 1 };
	struct store_uidset set = { &r, 1 };
	uint64_t other;
	CHECK(store_mailbox_create(u, "Other", 0, &other) == 1);
	struct store_copy_result cr;
	CHECK(store_copy(u, inbox, &set, other, false, &cr) == 1);
	store_copy_result_free(&cr);
	CHECK(store_expunge(u, inbox, &set, false, NULL) == 1);
	CHECK(tsu_db_int("store.db", "SELECT count(*) FROM blob_body") == 2);
	CHECK(store_expunge(u, other, NULL, false, NULL) == 1);
	CHECK(tsu_db_int("store.db", "SELECT count(*) FROM blob_body") == 1);
	CHECK(store_msg_open(u, blob, &fd, &size) == 0);
	tsu_teardown(&u);
}

/* ------------------------------------------------------------------ */

#define THREADS 4
#define PER_THREAD 25

struct worker {
	uint64_t mailbox;
	uint32_t uids[PER_THREAD];
	int failures;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct store_user *u;
	if (store_user_open("alice", &u) < 0) {
		w->failures++;
		return NULL;
	}
	for (int i = 0; i < PER_THREAD; i++) {
		w->uids[i] = tsu_append(u, w->mailbox, MSG, 0, NULL);
		if (w->uids[i] == 0)
			w->failures++;
		struct store_uid_range r = { 1, UINT32_MAX };
		struct store_uidset set = { &r, 1 };
		struct store_flags_result res;
		if (store_flags_change(u, w->mailbox, &set, i % 2 ? STORE_FLAGS_ADD :
				       STORE_FLAGS_REMOVE, STORE_FLAG_SEEN, NULL, 0, &res) < 0)
			w->failures++;
		else
			store_flags_result_free(&res);
	}
	store_user_unref(&u);
	return NULL;
}

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

struct bus_count {
	pthread_mutex_t lock;
	int calls;
	uint64_t max_modseq;
};

static void count_cb(void *ctx, uint64_t mailbox_id, uint64_t modseq)
{
	struct bus_count *c = ctx;
	pthread_mutex_lock(&c->lock);
	c->calls++;
	if (modseq > c->max_modseq)
		c->max_modseq = modseq;
	pthread_mutex_unlock(&c->lock);
}

TEST(concurrent_writers_keep_uids_and_modseqs_unique)
{
	struct store_user *u = tsu_setup();
	uint64_t inbox = tsu_mailbox(u, "INBOX");
	struct bus_count bc = { PTHREAD_MUTEX_INITIALIZER, 0, 0 };
	struct store_watch *w;
	CHECK(store_watch_add(u, inbox, count_cb, &bc, &w) == 1);
	pthread_t th[THREADS];
	struct worker wk[THREADS];
	memset(wk, 0, sizeof(wk));
	for (int i = 0; i < THREADS; i++) {
		wk[i].mailbox = inbox;
		pthread_create(&th[i], NULL, worker_main, &wk[i]);
	}
	uint32_t all[THREADS * PER_THREAD];
	int n = 0;
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		CHECK(wk[i].failures == 0);
		for (int j = 0; j < PER_THREAD; j++) {
			all[n++] = wk[i].uids[j];
			if (j > 0)
				CHECK(wk[i].uids[j] > wk[i].uids[j - 1]);
		}
	}
	qsort(all, (size_t)n, sizeof(all[0]), u32_cmp);
	for (int i = 0; i < n; i++)
		CHECK(all[i] == (uint32_t)i + 1); /* unique, dense, from 1 */
	struct store_msg_list *l;
	CHECK(store_msg_list_load(u, inbox, &l) == 1);
	CHECK(l->count == (uint32_t)n);
	uint64_t ms[THREADS * PER_THREAD];
	for (uint32_t i = 0; i < l->count; i++) {
		ms[i] = l->msgs[i].modseq;
		CHECK(ms[i] <= l->highestmodseq);
	}
	qsort(ms, l->count, sizeof(ms[0]), u64_cmp);
	for (uint32_t i = 1; i < l->count; i++)
		CHECK(ms[i] > ms[i - 1]);
	CHECK(bc.max_modseq == l->highestmodseq);
	CHECK(bc.calls >= n);
	struct store_status st;
	CHECK(store_mailbox_status(u, inbox, &st) == 1);
	uint32_t unseen = 0;
	for (uint32_t i = 0; i < l->count; i++)
		unseen += !(l->msgs[i].flags & STORE_FLAG_SEEN);
	CHECK(st.unseen == unseen && st.messages == l->count);
	store_msg_list_free(&l);
	store_watch_remove(&w);
	tsu_teardown(&u);
}

/* A watch removed while another thread publishes is never called after
 * store_watch_remove returns. */
struct race {
	volatile bool removed;
	volatile int late_calls;
};

static void race_cb(void *ctx, uint64_t mailbox_id, uint64_t modseq)
{
	struct race *r = ctx;
	if (r->removed)
		r->late_calls++;
}

static void *race_appender(void *arg)
{
	struct store_user *u = arg;
	uint64_t inbox = tsu_mailbox(u, "INBOX");
	for (int i = 0; i < 40; i++)
		tsu_append(u, inbox, MSG, 0, NULL);
	return NULL;
}

TEST(watch_remove_is_safe_against_concurrent_publish)
{
	struct store_user *u = tsu_setup();
	pthread_t t;
	pthread_create(&t, NULL, race_appender, u);
	for (int i = 0; i < 200; i++) {
		struct race r = { false, 0 };
		struct store_watch *w;
		CHECK(store_watch_add(u, 0, race_cb, &r, &w) == 1);
		usleep(100);
		store_watch_remove(&w);
		r.removed = true;
		usleep(50);
		CHECK(r.late_calls == 0);
	}
	pthread_join(t, NULL);
	tsu_teardown(&u);
}

/* ------------------------------------------------------------------ */
/* cross-process: a child process appends; the parent sees it through
 * store_user_refresh (and through the notify socket). */

TEST(cross_process_changes_are_published)
{
	struct store_user *u = tsu_setup();
	uint64_t inbox = tsu_mailbox(u, "INBOX");
	char err[256];
	CHECK(store_notify_listen(err, sizeof(err)) == 1);
	struct bus_count bc = { PTHREAD_MUTEX_INITIALIZER, 0, 0 };
	struct store_watch *w;
	CHECK(store_watch_add(u, inbox, count_cb, &bc, &w) == 1);
	CHECK(store_user_refresh(u) == 1);
	CHECK(bc.calls == 0);

	pid_t pid = fork();
	if (pid == 0) {
		/* The child must not use the parent's SQLite connection: it
		 * starts a store of its own on the same data_dir (the process
		 * that listens is the parent, so this one sends). */
		char e2[256];
		store_deinit();
		struct store_user *cu;
		if (store_init(tsu_dir, e2, sizeof(e2)) < 0 || store_user_open("alice", &cu) < 0)
			_exit(1);
		uint32_t uid = tsu_append(cu, inbox, MSG, 0, NULL);
		store_user_unref(&cu);
		store_deinit();
		_exit(uid == 1 ? 0 : 2);
	}
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* The notify thread should publish shortly; refresh is the fallback
	 * and publishes nothing twice once data_version was seen. */
	for (int i = 0; i < 200; i++) {
		pthread_mutex_lock(&bc.lock);
		int calls = bc.calls;
		pthread_mutex_unlock(&bc.lock);
		if (calls > 0)
			break;
		usleep(5000);
	}
	pthread_mutex_lock(&bc.lock);
	CHECK(bc.calls == 1);
	pthread_mutex_unlock(&bc.lock);
	CHECK(store_user_refresh(u) == 1);
	CHECK(bc.calls == 1);
	struct store_status st;
	CHECK(store_mailbox_status(u, inbox, &st) == 1);
	CHECK(st.messages == 1 && bc.max_modseq == st.highestmodseq);
	store_watch_remove(&w);
	tsu_teardown(&u);
}

/* Two processes appending at once (roostd and roost deliver): SQLite's
 * write lock serialises them; UIDs stay unique and dense. */
TEST(two_processes_append_concurrently)
{
	struct store_user *u = tsu_setup();
	uint64_t inbox = tsu_mailbox(u, "INBOX");
	pid_t pid = fork();
	if (pid == 0) {
		char e2[256];
		store_deinit();
		struct store_user *cu;
		if (store_init(tsu_dir, e2, sizeof(e2)) < 0 || store_user_open("alice", &cu) < 0)
			_exit(1);
		int bad = 0;
		for (int i = 0; i < 30; i++)
			bad += tsu_append(cu, inbox, MSG, 0, NULL) == 0;
		store_user_unref(&cu);
		store_deinit();
		_exit(bad ? 2 : 0);
	}
	int bad = 0;
	for (int i = 0; i < 30; i++)
		bad += tsu_append(u, inbox, MSG, STORE_FLAG_SEEN, NULL) == 0;
	CHECK(bad == 0);
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	struct store_msg_list *l;
	CHECK(store_msg_list_load(u, inbox, &l) == 1);
	CHECK(l->count == 60);
	for (uint32_t i = 0; i < l->count; i++)
		CHECK(l->msgs[i].uid == i + 1);
	store_msg_list_free(&l);
	struct store_status st;
	CHECK(store_mailbox_status(u, inbox, &st) == 1);
	CHECK(st.messages == 60 && st.unseen == 30 && st.uidnext == 61);
	struct store_quota q;
	CHECK(store_quota_get(u, &q) == 1);
	CHECK(q.messages_used == 60 && q.bytes_used == 60 * (sizeof(MSG) - 1));
	tsu_teardown(&u);
}

/* An idle user's connection is closed and reopened on use; changes made
 * by another process while it was closed are still published. */
TEST(idle_release_and_reopen)
{
	struct store_user *u = tsu_setup();
	uint64_t inbox = tsu_mailbox(u, "INBOX");
	CHECK(tsu_append(u, inbox, MSG, 0, NULL) == 1);
	CHECK(store_release_idle(3600) == 0); /* just used */
	CHECK(store_release_idle(0) == 1);
	CHECK(store_release_idle(0) == 0);    /* already closed */
	struct bus_count bc = { PTHREAD_MUTEX_INITIALIZER, 0, 0 };
	struct store_watch *w;
	CHECK(store_watch_add(u, inbox, count_cb, &bc, &w) == 1);

	pid_t pid = fork();
	if (pid == 0) {
		char e2[256];
		store_deinit();
		struct store_user *cu;
		if (store_init(tsu_dir, e2, sizeof(e2)) < 0 || store_user_open("alice", &cu) < 0)
			_exit(1);
		uint32_t uid = tsu_append(cu, inbox, MSG, 0, NULL);
		store_user_unref(&cu);
		store_deinit();
		_exit(uid == 2 ? 0 : 2);
	}
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(bc.calls == 0);
	CHECK(store_user_refresh(u) == 1); /* reopens, compares, publishes */
	CHECK(bc.calls == 1);
	CHECK(store_user_refresh(u) == 1);
	CHECK(bc.calls == 1);
	struct store_status st;
	CHECK(store_mailbox_status(u, inbox, &st) == 1);
	CHECK(st.messages == 2 && bc.max_modseq == st.highestmodseq);
	CHECK(tsu_append(u, inbox, MSG, 0, NULL) == 3);
	store_watch_remove(&w);
	tsu_teardown(&u);
}

/* ------------------------------------------------------------------ */
/* crash mid-append, then fsck */

static void fsck_line(void *ctx, const char *line)
{
	(void)ctx;
	(void)line;
}

static int count_dir(const char *path)
{
	DIR *d = opendir(path);
	int n = 0;
	struct dirent *de;
	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

/* Every row has its file with the right size; counters match rows. */
static void check_consistent(struct store_user *u, uint64_t mailbox)
{
	struct store_msg_list *l;
	CHECK(store_msg_list_load(u, mailbox, &l) == 1);
	uint64_t bytes = 0;
	for (uint32_t i = 0; i < l->count; i++) {
		int fd;
		uint64_t size;
		CHECK(store_msg_open(u, l->msgs[i].blob_id, &fd, &size) == 1);
		if (fd >= 0)
			close(fd);
		CHECK(size == l->msgs[i].size);
		bytes += size;
		if (i > 0)
			CHECK(l->msgs[i].uid > l->msgs[i - 1].uid);
	}
	struct store_quota q;
	CHECK(store_quota_get(u, &q) == 1);
	CHECK(q.messages_used == l->count && q.bytes_used == bytes);
	struct store_status st;
	CHECK(store_mailbox_status(u, mailbox, &st) == 1);
	CHECK(st.messages == l->count && st.size == bytes);
	CHECK(l->count == 0 || st.uidnext > l->msgs[l->count - 1].uid);
	store_msg_list_free(&l);
}

TEST(crash_mid_append_leaves_consistent_store)
{
	struct store_user *u = tsu_setup();
	uint64_t inbox = tsu_mailbox(u, "INBOX");
	store_user_unref(&u);
	static char big[300000];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (i % 77 == 76) ? '\n' : (char)('a' + i % 26);

	for (int round = 0; round < 4; round++) {
		pid_t pid = fork();
		if (pid == 0) {
			struct store_user *cu;
			if (store_user_open("alice", &cu) < 0)
				_exit(1);
			for (;;) {
				struct store_blob *b;
				if (store_blob_begin(cu, true, &b) < 0)
					_exit(2);
				for (int k = 0; k < 4; k++)
					store_blob_write(b, big, sizeof(big));
				struct store_append_req req;
				memset(&req, 0, sizeof(req));
				uint32_t uid, uv;
				store_append(cu, inbox, &b, &req, &uid, &uv);
			}
		}
		usleep(60000 + round * 37000);
		kill(pid, SIGKILL);
		int status;
		waitpid(pid, &status, 0);
		CHECK(WIFSIGNALED(status));
		/* leftovers the crash may or may not have left, made certain:
		 * a temp file of the dead child and an orphan message file */
		char path[512];
		snprintf(path, sizeof(path), "%s/users/alice/tmp/%ld.1.abc", tsu_dir, (long)pid);
		int fd = open(path, O_CREAT | O_WRONLY, 0600);
		CHECK(fd >= 0);
		close(fd);
		snprintf(path, sizeof(path), "%s/users/alice/msg/ee", tsu_dir);
		mkdir(path, 0700);
		snprintf(path, sizeof(path), "%s/users/alice/msg/ee/00000000fffff0ee", tsu_dir);
		fd = open(path, O_CREAT | O_WRONLY, 0600);
		CHECK(fd >= 0);
		close(fd);

		struct store_fsck_report rep;
		CHECK(store_fsck("alice", &rep, fsck_line, NULL) == 1);
		CHECK(rep.temp_removed >= 1);
		CHECK(rep.orphans_removed >= 1);
		CHECK(rep.missing_files == 0 && rep.wrong_size == 0);
		snprintf(path, sizeof(path), "%s/users/alice/tmp", tsu_dir);
		CHECK(count_dir(path) == 0);
		/* a second run finds nothing */
		CHECK(store_fsck("alice", &rep, NULL, NULL) == 1);
		CHECK(rep.temp_removed == 0 && rep.orphans_removed == 0 && rep.blobs_fixed == 0 &&
		      rep.counters_fixed == 0 && rep.modseq_fixed == 0 && rep.caches_rebuilt == 0);
		CHECK(store_user_open("alice", &u) == 1);
		check_consistent(u, inbox);
		store_user_unref(&u);
	}
	CHECK(store_user_open("alice", &u) == 1);
	struct store_status st;
	CHECK(store_mailbox_status(u, inbox, &st) == 1);
	CHECK(st.messages > 0); /* the children did get work done */
	tsu_teardown(&u);
}

static int db_exec(const char *sql)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/users/alice/store.db", tsu_dir);
	sqlite3 *db;
	if (sqlite3_open(path, &db) != SQLITE_OK)
		return -1;
	sqlite3_busy_timeout(db, 5000);
	int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	sqlite3_close(db);
	return rc == SQLITE_OK ? 1 : -1;
}

TEST(fsck_repairs_counters_refs_caches_and_reports_missing)
{
	struct store_user *u = tsu_setup();
	uint64_t inbox = tsu_mailbox(u, "INBOX"), other;
	CHECK(store_mailbox_create(u, "Other", 0, &other) == 1);
	for (int i = 0; i < 3; i++)
		CHECK(tsu_append(u, inbox, MSG, i ? 0 : STORE_FLAG_SEEN, NULL) != 0);
	struct store_uid_range r = { 1, 1 };
	struct store_uidset set = { &r, 1 };
	struct store_copy_result cr;
	CHECK(store_copy(u, inbox, &set, other, false, &cr) == 1);
	store_copy_result_free(&cr);
	struct store_msg_list *l;
	CHECK(store_msg_list_load(u, inbox, &l) == 1);
	uint64_t blob3 = l->msgs[2].blob_id;
	store_msg_list_free(&l);
	store_user_unref(&u);

	CHECK(db_exec("UPDATE mailbox SET messages = 42, unseen = 0, uidnext = 2,"
		      " highestmodseq = 1 WHERE name = 'INBOX';"
		      "UPDATE account SET bytes_used = 5, messages_used = 1;"
		      "UPDATE blob SET refs = 7 WHERE id = 1;"
		      "UPDATE blob SET cache = NULL;") == 1);
	/* Message 3 is kept in the database: its text goes missing. */
	char sql[128];
	snprintf(sql, sizeof(sql), "DELETE FROM blob_body WHERE id = %llu",
		 (unsigned long long)blob3);
	CHECK(db_exec(sql) == 1);

	struct store_fsck_report rep;
	CHECK(store_fsck("alice", &rep, NULL, NULL) == 1);
	CHECK(rep.counters_fixed == 2); /* INBOX counters and quota usage */
	CHECK(rep.modseq_fixed == 1);
	CHECK(rep.blobs_fixed == 1);
	CHECK(rep.missing_files == 1);
	CHECK(rep.caches_rebuilt == 2);
	CHECK(store_fsck("alice", &rep, NULL, NULL) == 1);
	CHECK(rep.counters_fixed == 0 && rep.modseq_fixed == 0 && rep.blobs_fixed == 0 &&
	      rep.caches_rebuilt == 0);
	CHECK(rep.missing_files == 1); /* reported again, never silently dropped */

	CHECK(store_user_open("alice", &u) == 1);
	struct store_status st;
	CHECK(store_mailbox_status(u, inbox, &st) == 1);
	CHECK(st.messages == 3 && st.unseen == 2 && st.uidnext == 4);
	struct store_quota q;
	CHECK(store_quota_get(u, &q) == 1);
	CHECK(q.messages_used == 4 && q.bytes_used == 4 * (sizeof(MSG) - 1));
	/* the shared file's refcount was repaired: expunging one copy keeps it */
	CHECK(store_expunge(u, other, NULL, false, NULL) == 1);
	CHECK(store_msg_list_load(u, inbox, &l) == 1);
	int fd;
	uint64_t size;
	CHECK(store_msg_open(u, l->msgs[0].blob_id, &fd, &size) == 1);
	close(fd);
	store_msg_list_free(&l);
	tsu_teardown(&u);
}

/* A store of schema 1 (every message a file) is migrated at its first
 * open: its files stay where they are and read as before, new small
 * messages go to the database, and fsck checks both kinds. */
TEST(store_of_schema_1_keeps_its_files_and_migrates)
{
	struct store_user *u = tsu_setup();
	uint64_t inbox = tsu_mailbox(u, "INBOX");
	CHECK(tsu_append(u, inbox, MSG, 0, NULL) == 1);
	struct store_msg_list *l;
	CHECK(store_msg_list_load(u, inbox, &l) == 1);
	uint64_t old_blob = l->msgs[0].blob_id;
	store_msg_list_free(&l);
	store_user_unref(&u);
	CHECK(store_release_idle_ms(0) >= 1);

	/* What schema 1 left: the text in msg/, no blob_body, no cache. */
	char path[512];
	snprintf(path, sizeof(path), "%s/users/alice/msg/%02x/%016llx", tsu_dir,
		 (unsigned)(old_blob & 0xff), (unsigned long long)old_blob);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	CHECK(fd >= 0);
	CHECK(write(fd, MSG, sizeof(MSG) - 1) == (ssize_t)(sizeof(MSG) - 1));
	close(fd);
	CHECK(db_exec("DROP TABLE blob_body; UPDATE blob SET cache = NULL;"
		      " PRAGMA user_version = 1;") == 1);
	CHECK(tsu_db_int("store.db", "PRAGMA user_version") == 1);

	CHECK(store_user_open("alice", &u) == 1);
	CHECK(tsu_db_int("store.db", "PRAGMA user_version") == 2);
	CHECK(reads_back(u, old_blob, MSG));
	CHECK(has_cache(u, old_blob)); /* rebuilt from the file */
	CHECK(tsu_append(u, inbox, MSG, 0, NULL) == 2);
	CHECK(tsu_db_int("store.db", "SELECT count(*) FROM blob_body") == 1);
	CHECK(store_msg_list_load(u, inbox, &l) == 1);
	uint64_t new_blob = l->msgs[1].blob_id;
	store_msg_list_free(&l);
	store_user_unref(&u);

	struct store_fsck_report rep;
	CHECK(store_fsck("alice", &rep, NULL, NULL) == 1);
	CHECK(rep.missing_files == 0 && rep.wrong_size == 0 && rep.orphans_removed == 0);
	/* A text in the database whose length disagrees with its row, and
	 * one no row refers to. */
	char sql[160];
	snprintf(sql, sizeof(sql), "UPDATE blob SET size = size + 1 WHERE id = %llu;"
		 " INSERT INTO blob_body (id, body) VALUES (999999, x'41');",
		 (unsigned long long)new_blob);
	CHECK(db_exec(sql) == 1);
	CHECK(store_fsck("alice", &rep, NULL, NULL) == 1);
	CHECK(rep.wrong_size == 1 && rep.orphans_removed == 1);
	CHECK(tsu_db_int("store.db", "SELECT count(*) FROM blob_body WHERE id = 999999") == 0);
	tsu_teardown(&u);
}

/* ------------------------------------------------------------------ */
/* a big mailbox loads fast and compactly */

#if defined(__SANITIZE_ADDRESS__)
#define BIG_COUNT 100000
#else
#define BIG_COUNT 1000000
#endif

TEST(big_mailbox_loads_fast)
{
	struct store_user *u = tsu_setup();
	uint64_t inbox = tsu_mailbox(u, "INBOX");
	store_user_unref(&u);
	/* Rows straight into the database (a million fsync'd appends would
	 * take far too long for a unit test); every 100th has keywords. */
	char sql[1024];
	snprintf(sql, sizeof(sql),
		 "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d)"
		 " INSERT INTO message (mailbox_id, uid, blob_id, modseq, flags, keywords,"
		 " internal_date, tz, size, savedate)"
		 " SELECT %llu, i, i, i + 1, i %% 32, CASE WHEN i %% 100 = 0 THEN '$k' || (i %% 7)"
		 " ELSE NULL END, 1700000000 + i, 60, 1000 + i %% 5000, 0 FROM n;"
		 "UPDATE mailbox SET uidnext = %d, highestmodseq = %d, messages = %d"
		 " WHERE id = %llu;",
		 BIG_COUNT, (unsigned long long)inbox, BIG_COUNT + 1, BIG_COUNT + 1, BIG_COUNT,
		 (unsigned long long)inbox);
	CHECK(db_exec(sql) == 1);
	CHECK(store_user_open("alice", &u) == 1);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct store_msg_list *l;
	CHECK(store_msg_list_load(u, inbox, &l) == 1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	fprintf(stderr, "  loaded %u messages in %.3f s, %u keyword sets\n", l->count, secs,
		l->kwset_count);
	CHECK(l->count == BIG_COUNT);
	CHECK(l->cap == BIG_COUNT); /* one exact allocation: 40 bytes a message */
	CHECK(l->kwset_count == 8);  /* "" and $k0..$k6 */
	CHECK_STREQ(store_msg_keywords(l, &l->msgs[99]), "$k2");
	CHECK(store_msg_list_find(l, 123456 % BIG_COUNT) == (long)(123456 % BIG_COUNT) - 1);
	CHECK(store_msg_list_find(l, BIG_COUNT + 1) == -1);
#if !defined(__SANITIZE_ADDRESS__)
	CHECK(secs < 1.0);
#endif
	store_msg_list_free(&l);
	tsu_teardown(&u);
}

UNIT_MAIN()
