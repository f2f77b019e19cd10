/* fsync-pair.c - what a delivery's two file-system syncs cost on this disk,
 * one after the other or issued together.
 *
 *   cc -O2 -o fsync-pair bench/fsync-pair.c -lpthread
 *   ./fsync-pair DIR COUNT serial|parallel
 *
 * For each of COUNT files: write 20,000 bytes to DIR/t<i>, rename it to
 * DIR/f<i>, then fsync the file and fsync DIR, either in turn or at the
 * same time (the directory's on a second thread), as Roost's append path
 * does (src/store/sqlite-sync.c). Prints the mean time per file. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int dir_fd;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int go, done;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *dir_syncer(void *arg)
{
	(void)arg;
	for (;;) {
		pthread_mutex_lock(&lock);
		while (!go)
			pthread_cond_wait(&cond, &lock);
		go = 0;
		pthread_mutex_unlock(&lock);
		if (fsync(dir_fd) < 0)
			perror("fsync dir");
		pthread_mutex_lock(&lock);
		done = 1;
		pthread_cond_broadcast(&cond);
		pthread_mutex_unlock(&lock);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 4 || atoi(argv[2]) <= 0) {
		fprintf(stderr, "usage: fsync-pair DIR COUNT serial|parallel\n");
		return 2;
	}
	const char *dir = argv[1];
	int count = atoi(argv[2]);
	int parallel = strcmp(argv[3], "parallel") == 0;
	char data[20000];
	memset(data, 'x', sizeof(data));
	dir_fd = open(dir, O_RDONLY | O_DIRECTORY);
	if (dir_fd < 0) {
		perror(dir);
		return 1;
	}
	pthread_t t;
	if (pthread_create(&t, NULL, dir_syncer, NULL) != 0)
		return 1;
	double start = now_s();
	for (int i = 0; i < count; i++) {
		char tmp[4096], final[4096];
		snprintf(tmp, sizeof(tmp), "%s/t%d", dir, i);
		snprintf(final, sizeof(final), "%s/f%d", dir, i);
		int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd < 0 || write(fd, data, sizeof(data)) != (ssize_t)sizeof(data) ||
		    rename(tmp, final) < 0) {
			perror(tmp);
			return 1;
		}
		if (!parallel) {
			if (fsync(fd) < 0 || fsync(dir_fd) < 0)
				perror("fsync");
		} else {
			pthread_mutex_lock(&lock);
			go = 1;
			done = 0;
			pthread_cond_broadcast(&cond);
			pthread_mutex_unlock(&lock);
			if (fsync(fd) < 0)
				perror("fsync file");
			pthread_mutex_lock(&lock);
			while (!done)
				pthread_cond_wait(&cond, &lock);
			pthread_mutex_unlock(&lock);
		}
		close(fd);
	}
	double per = (now_s() - start) / count;
	printf("%s: %.3f ms per file\n", parallel ? "parallel" : "serial", per * 1000);
	for (int i = 0; i < count; i++) {
		char final[4096];
		snprintf(final, sizeof(final), "%s/f%d", dir, i);
		unlink(final);
	}
	return 0;
}
