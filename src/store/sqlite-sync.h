/* Overlapped fsync calls for the append path.
 *
 * A delivery needs its message file and the directory entry of that file
 * durable before the row that references them commits. The two fsyncs do
 * not depend on each other, and a disk finishes two flushes issued
 * together sooner than one after the other, so the directory's fsync can
 * run on a helper thread while the caller syncs the file.
 *
 *	struct sq_sync_job job;
 *	sq_sync_start(&job, dir_fd);
 *	... fsync(file_fd), other work ...
 *	if (sq_sync_finish(&job) < 0) ... errno is fsync's
 *
 * sq_sync_finish never waits for a helper to become free: a job that no
 * helper has taken yet is taken back and run by the caller, so the pair
 * is never slower than doing both in turn (apart from a lock and a wakeup)
 * and cannot deadlock however many callers there are. Helpers start on
 * first use; a process forked after that runs its jobs itself. The job must stay alive (and the fd open) until
 * sq_sync_finish returns. */
#ifndef ROOST_STORE_SQLITE_SYNC_H
#define ROOST_STORE_SQLITE_SYNC_H

struct sq_sync_job {
	int fd;
	int err;   /* fsync's errno, 0 for success */
	int state; /* private */
	struct sq_sync_job *next;
};

void sq_sync_start(struct sq_sync_job *job, int fd);
/* 0 when the fsync succeeded, -1 with errno set otherwise. */
int sq_sync_finish(struct sq_sync_job *job);

#endif
