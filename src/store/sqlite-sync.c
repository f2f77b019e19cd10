/* Overlapped fsync calls: see sqlite-sync.h. */
#include "store/sqlite-sync.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"

/* Two flushes in flight at once is what a delivery needs; a few more let
 * concurrent deliveries overlap theirs too. Each helper is a thread that
 * sleeps in fsync or on a condition variable. */
#define SYNC_HELPERS 4
#define SYNC_HELPER_STACK (64 * 1024)

enum { JOB_QUEUED, JOB_RUNNING, JOB_DONE, JOB_INLINE };

static pthread_mutex_t sync_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sync_work = PTHREAD_COND_INITIALIZER;
static pthread_cond_t sync_done = PTHREAD_COND_INITIALIZER;
static struct sq_sync_job *queue_head, *queue_tail;
static pthread_once_t sync_once = PTHREAD_ONCE_INIT;
/* The process the helpers run in. A child forked after they started has
 * none, and the lock and condition variables it inherited may hold the
 * state of threads it does not have: it runs its jobs itself without
 * touching them. */
static pid_t helpers_pid;

static void run_job(struct sq_sync_job *job)
{
	int err = 0;
	while (fsync(job->fd) < 0) {
		if (errno != EINTR) {
			err = errno;
			break;
		}
	}
	job->err = err;
}

static void *helper_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&sync_lock);
	for (;;) {
		while (queue_head == NULL)
			pthread_cond_wait(&sync_work, &sync_lock);
		struct sq_sync_job *job = queue_head;
		queue_head = job->next;
		if (queue_head == NULL)
			queue_tail = NULL;
		job->state = JOB_RUNNING;
		pthread_mutex_unlock(&sync_lock);
		run_job(job);
		pthread_mutex_lock(&sync_lock);
		job->state = JOB_DONE;
		pthread_cond_broadcast(&sync_done);
	}
	return NULL;
}

static void start_helpers(void)
{
	pthread_attr_t attr;
	if (pthread_attr_init(&attr) != 0)
		return;
	pthread_attr_setstacksize(&attr, SYNC_HELPER_STACK);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (int i = 0; i < SYNC_HELPERS; i++) {
		pthread_t t;
		int rc = pthread_create(&t, &attr, helper_main, NULL);
		if (rc == 0)
			helpers_pid = getpid();
		if (rc != 0) {
			/* Queued jobs are then run by their callers. */
			char eb[128];
			log_warn("store_sync_helper", "error=\"%s\"", strerror_r(rc, eb, sizeof(eb)));
			break;
		}
	}
	pthread_attr_destroy(&attr);
}

void sq_sync_start(struct sq_sync_job *job, int fd)
{
	pthread_once(&sync_once, start_helpers);
	job->fd = fd;
	job->err = 0;
	job->state = JOB_QUEUED;
	job->next = NULL;
	if (helpers_pid != getpid()) {
		job->state = JOB_INLINE;
		return;
	}
	pthread_mutex_lock(&sync_lock);
	if (queue_tail != NULL)
		queue_tail->next = job;
	else
		queue_head = job;
	queue_tail = job;
	pthread_cond_signal(&sync_work);
	pthread_mutex_unlock(&sync_lock);
}

int sq_sync_finish(struct sq_sync_job *job)
{
	if (job->state == JOB_INLINE) {
		run_job(job);
		job->state = JOB_DONE;
		goto out;
	}
	pthread_mutex_lock(&sync_lock);
	if (job->state == JOB_QUEUED) {
		/* No helper took it yet: take it back rather than wait. */
		struct sq_sync_job **p = &queue_head, *prev = NULL;
		while (*p != job) {
			prev = *p;
			p = &(*p)->next;
		}
		*p = job->next;
		if (queue_tail == job)
			queue_tail = prev;
		job->state = JOB_RUNNING;
		pthread_mutex_unlock(&sync_lock);
		run_job(job);
		job->state = JOB_DONE;
	} else {
		while (job->state != JOB_DONE)
			pthread_cond_wait(&sync_done, &sync_lock);
		pthread_mutex_unlock(&sync_lock);
	}
out:
	if (job->err != 0) {
		errno = job->err;
		return -1;
	}
	return 0;
}
