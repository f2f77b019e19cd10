/* The life of a user handle: parked after the last reference and revived
 * by the next open, closed when idle, when too many are parked, when the
 * user is deleted or renamed here or by another process, and at
 * store_deinit; what an open connection costs; and a crash between
 * installing a message file and the commit. */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/sqlite-store.h"
#include "test-store-util.h"

static const char MSG[] = "From: a@example.com\r\nSubject: s\r\n\r\nbody\r\n";

/* fsync interposition: a child that sets crash_at_msg_fsync dies (as by
 * SIGKILL) at the fsync of the message file it just moved into msg/, that
 * is after the rename and before the commit. */
static volatile bool crash_at_msg_fsync;

int fsync(int fd)
{
	if (crash_at_msg_fsync) {
		char link[64], path[512];
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		ssize_t n = readlink(link, path, sizeof(path) - 1);
		path[n > 0 ? n : 0] = '\0';
		struct stat st;
		if (strstr(path, "/msg/") != NULL && fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
			raise(SIGKILL);
	}
	return (int)syscall(SYS_fsync, fd);
}

static uint32_t message_count(struct store_user *u, uint64_t mailbox)
{
	struct store_status st;
	if (store_mailbox_status(u, mailbox, &st) != 1)
		return UINT32_MAX;
	return st.messages;
}

static unsigned count_files(const char *dir)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return 0;
	unsigned n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static unsigned open_fds(void)
{
	return count_files("/proc/self/fd");
}

/* Runs fn in a child process with its own store (as roost deliver would
 * be); returns the child's exit status or -1. */
static int in_child(int (*fn)(void))
{
	pid_t pid = fork();
	if (pid == 0) {
		char err[256];
		store_deinit();
		if (store_init(tsu_dir, err, sizeof(err)) < 0)
			_exit(90);
		int r = fn();
		store_deinit();
		_exit(r);
	}
	int status;
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	if (WIFSIGNALED(status))
		return 100 + WTERMSIG(status);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int child_deliver(void)
{
	struct store_user *u;
	if (store_user_open("alice", &u) < 0)
		return 1;
	uint32_t uid = tsu_append(u, tsu_mailbox(u, "INBOX"), MSG, 0, NULL);
	store_user_unref(&u);
	return uid != 0 ? 0 : 2;
}

static int child_recreate(void)
{
	if (store_user_delete("alice") != 1 || store_user_create("alice") != 1)
		return 1;
	return 0;
}

static int child_crash_mid_append(void)
{
	struct store_user *u;
	if (store_user_open("alice", &u) < 0)
		return 1;
	crash_at_msg_fsync = true;
	/* Large enough to be a file (a small message has no file to sync). */
	tsu_append(u, tsu_mailbox(u, "INBOX"), tsu_big_msg(), 0, NULL);
	return 3; /* not reached: killed at the fsync */
}

/* The last unref parks the handle; the next open revives the same
 * object, which sees what another process committed meanwhile. */
TEST(parked_handle_is_revived_and_sees_other_processes)
{
	struct store_user *u = tsu_setup();
	uint64_t inbox = tsu_mailbox(u, "INBOX");
	CHECK(tsu_append(u, inbox, MSG, 0, NULL) == 1);
	struct store_user *first = u;
	store_user_unref(&u);
	CHECK(u == NULL);

	CHECK(in_child(child_deliver) == 0);

	CHECK(store_user_open("alice", &u) == 1);
	CHECK(u == first); /* revived, not reopened */
	CHECK(message_count(u, inbox) == 2);
	struct store_msg_list *l;
	CHECK(store_msg_list_load(u, inbox, &l) == 1);
	CHECK(l->count == 2 && l->msgs[1].uid == 2);
	store_msg_list_free(&l);
	/* And it still writes. */
	CHECK(tsu_append(u, inbox, MSG, 0, NULL) == 3);
	tsu_teardown(&u);
}

/* Deleting or renaming a user whose handle is only parked works (the
 * handle is closed first); a referenced one is INUSE. */
TEST(delete_and_rename_while_parked)
{
	struct store_user *u = tsu_setup();
	uint64_t inbox = tsu_mailbox(u, "INBOX");
	CHECK(tsu_append(u, inbox, MSG, 0, NULL) == 1);
	CHECK(store_user_rename("alice", "bob") == -1);
	CHECK(store_error(NULL) == STORE_ERR_INUSE);
	CHECK(store_user_delete("alice") == -1);
	CHECK(store_error(NULL) == STORE_ERR_INUSE);
	store_user_unref(&u);

	CHECK(store_user_rename("alice", "bob") == 1);
	CHECK(store_user_open("alice", &u) == -1);
	CHECK(store_error(NULL) == STORE_ERR_NONEXISTENT);
	CHECK(store_user_open("bob", &u) == 1);
	CHECK(message_count(u, tsu_mailbox(u, "INBOX")) == 1);
	store_user_unref(&u);

	CHECK(store_user_delete("bob") == 1);
	CHECK(store_user_open("bob", &u) == -1);
	CHECK(store_error(NULL) == STORE_ERR_NONEXISTENT);
	CHECK(store_user_exists("bob") == 0);
	tsu_teardown(&u);
}

/* Another process deletes the user and creates it again while this one
 * has it parked: the next open must see the new, empty store, never the
 * old connection to the deleted database. */
TEST(parked_handle_of_recreated_user_is_not_revived)
{
	struct store_user *u = tsu_setup();
	uint64_t inbox = tsu_mailbox(u, "INBOX");
	CHECK(tsu_append(u, inbox, MSG, 0, NULL) == 1);
	store_user_unref(&u);
	CHECK(in_child(child_recreate) == 0);
	CHECK(store_user_open("alice", &u) == 1);
	CHECK(message_count(u, tsu_mailbox(u, "INBOX")) == 0);
	CHECK(tsu_append(u, tsu_mailbox(u, "INBOX"), MSG, 0, NULL) == 1);
	tsu_teardown(&u);
}

/* Idle release: a parked handle unused long enough is closed and
 * forgotten; a referenced one loses only its connection and reopens on
 * the next use with everything intact. */
TEST(idle_close_and_reopen)
{
	struct store_user *u = tsu_setup();
	uint64_t inbox = tsu_mailbox(u, "INBOX");
	CHECK(tsu_append(u, inbox, MSG, 0, NULL) == 1);
	CHECK(store_release_idle_ms(60000) == 0); /* just used */
	CHECK(store_release_idle_ms(0) == 1);     /* connection closed */
	CHECK(store_release_idle_ms(0) == 0);
	CHECK(message_count(u, inbox) == 1);      /* reopened */
	CHECK(tsu_append(u, inbox, MSG, 0, NULL) == 2);

	unsigned fds = open_fds();
	store_user_unref(&u); /* parked: store.db, -wal, -shm stay open */
	CHECK(open_fds() == fds);
	CHECK(store_release_idle_ms(60000) == 0);
	CHECK(store_release_idle_ms(0) == 1); /* the parked handle, closed */
	CHECK(open_fds() < fds);
	CHECK(store_release_idle_ms(0) == 0);

	CHECK(in_child(child_deliver) == 0);
	CHECK(store_user_open("alice", &u) == 1);
	CHECK(message_count(u, inbox) == 3);
	tsu_teardown(&u);
}

/* At most 256 handles stay parked; store_deinit closes the rest. */
TEST(parked_handles_are_bounded_and_closed_at_deinit)
{
	struct store_user *u = tsu_setup();
	store_user_unref(&u);
	unsigned fds = open_fds();
	char key[32];
	for (int i = 0; i < 300; i++) {
		snprintf(key, sizeof(key), "u%d", i);
		CHECK(store_user_create(key) == 1);
		CHECK(store_user_open(key, &u) == 1);
		store_user_unref(&u);
	}
	/* alice and the first 44 were closed to make room. */
	CHECK(store_release_idle_ms(0) == 256);
	CHECK(open_fds() <= fds);

	CHECK(store_user_open("u299", &u) == 1);
	store_user_unref(&u);
	store_deinit();
	CHECK(open_fds() < fds);
	char err[256];
	CHECK(store_init(tsu_dir, err, sizeof(err)) == 1);
	CHECK(store_user_open("u299", &u) == 1);
	tsu_teardown(&u);
}

/* What an open user costs in SQLite's heap (the idle-memory target): no
 * lookaside, no bulk page-cache allocation. Measured with the schema
 * read and a mailbox status, as after a login and SELECT. */
TEST(open_user_memory)
{
	struct store_user *u = tsu_setup();
	store_user_unref(&u);
	enum { N = 20 };
	char key[32];
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "m%d", i);
		CHECK(store_user_create(key) == 1);
	}
	struct store_user *us[N];
	sqlite3_int64 before = sqlite3_memory_used();
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "m%d", i);
		CHECK(store_user_open(key, &us[i]) == 1);
		CHECK(message_count(us[i], tsu_mailbox(us[i], "INBOX")) == 0);
	}
	sqlite3_int64 per = (sqlite3_memory_used() - before) / N;
	fprintf(stderr, "  SQLite heap per open user: %lld bytes\n", (long long)per);
	CHECK(per < 64 * 1024); /* ~52 KiB measured; 104 KiB with SQLite defaults */
	for (int i = 0; i < N; i++)
		store_user_unref(&us[i]);
	CHECK(store_release_idle_ms(0) >= N);
	tsu_teardown(&u);
}

/* A crash after the message file is in msg/ but before the commit: no
 * message is visible, fsck removes the file, and the next append works
 * (and may reuse the id: its rename replaces any leftover). */
TEST(crash_between_file_and_commit)
{
	struct store_user *u = tsu_setup();
	uint64_t inbox = tsu_mailbox(u, "INBOX");
	CHECK(tsu_append(u, inbox, MSG, 0, NULL) == 1);
	store_user_unref(&u);
	CHECK(in_child(child_crash_mid_append) == 100 + SIGKILL);

	char dir[512];
	snprintf(dir, sizeof(dir), "%s/users/alice/msg/02", tsu_dir);
	CHECK(count_files(dir) == 1); /* blob 2's file, never committed */
	CHECK(store_user_open("alice", &u) == 1);
	CHECK(message_count(u, inbox) == 1);
	store_user_unref(&u);

	struct store_fsck_report rep;
	CHECK(store_fsck("alice", &rep, NULL, NULL) == 1);
	CHECK(rep.orphans_removed == 1);
	CHECK(rep.missing_files == 0 && rep.wrong_size == 0);
	CHECK(count_files(dir) == 0);

	CHECK(store_user_open("alice", &u) == 1);
	CHECK(tsu_append(u, inbox, MSG, 0, NULL) == 2);
	CHECK(message_count(u, inbox) == 2);
	int fd;
	uint64_t size;
	struct store_msg_list *l;
	CHECK(store_msg_list_load(u, inbox, &l) == 1);
	CHECK(l->count == 2);
	CHECK(store_msg_open(u, l->msgs[1].blob_id, &fd, &size) == 1);
	CHECK(size == sizeof(MSG) - 1);
	char buf[256];
	CHECK(read(fd, buf, sizeof(buf)) == (ssize_t)size && memcmp(buf, MSG, size) == 0);
	close(fd);
	store_msg_list_free(&l);
	tsu_teardown(&u);
}

/* SQLite's own slabs (sqlite-mem.c, installed by store_init): blocks of
 * every size keep their contents through reallocs, and once all are
 * freed, trimming gives every slab back. */
TEST(sqlite_memory_slabs)
{
	struct store_user *u = tsu_setup();
	store_user_unref(&u);
	CHECK(store_release_idle_ms(0) == 1);
	sq_mem_trim();
	enum { N = 3000 };
	static unsigned char *blocks[N];
	static int sizes[N];
	unsigned seed = 12345;
	for (int i = 0; i < N; i++) {
		seed = seed * 1103515245u + 12345u;
		int n = 1 + (int)(seed >> 8) % (i % 10 == 0 ? 70000 : 5000);
		blocks[i] = sqlite3_malloc(n);
		CHECK(blocks[i] != NULL);
		CHECK(sqlite3_msize(blocks[i]) >= (sqlite3_uint64)n);
		memset(blocks[i], i & 0xff, (size_t)n);
		sizes[i] = n;
	}
	for (int i = 0; i < N; i += 2) {
		int n = sizes[i] * 3 + 1;
		unsigned char *q = sqlite3_realloc(blocks[i], n);
		CHECK(q != NULL);
		for (int k = 0; k < sizes[i]; k++)
			if (q[k] != (i & 0xff)) {
				CHECK(q[k] == (i & 0xff));
				break;
			}
		memset(q, i & 0xff, (size_t)n);
		blocks[i] = q;
		sizes[i] = n;
	}
	bool intact = true;
	for (int i = 0; i < N; i++) {
		for (int k = 0; k < sizes[i]; k++)
			intact = intact && blocks[i][k] == (i & 0xff);
		sqlite3_free(blocks[i]);
	}
	CHECK(intact);
	CHECK(sq_mem_trim() > 0);
	CHECK(sq_mem_trim() == 0);
	/* The store still works on top of it. */
	CHECK(store_user_open("alice", &u) == 1);
	CHECK(tsu_append(u, tsu_mailbox(u, "INBOX"), MSG, 0, NULL) == 1);
	tsu_teardown(&u);
}

UNIT_MAIN()
