/* hist.h - latency histograms for the load generator.
 *
 * Log-linear buckets over microseconds, in the spirit of HdrHistogram: values
 * below 128 us have a bucket each, above that every power of two is split in
 * 64 buckets, so a percentile read back is within 1/64 (1.6%) of the true
 * value. 2,048 buckets cover up to 2^37 us (38 hours); larger values land in
 * the last bucket. A histogram is a plain struct: zero it to start, add
 * values, merge two by adding counts. Not thread-safe (the load generator is
 * one thread per process). */
#ifndef BENCH_HIST_H
#define BENCH_HIST_H

#include <stdint.h>

#define HIST_BUCKETS 2048

struct hist {
	uint64_t count;
	uint64_t sum_us;
	uint64_t max_us;
	uint64_t buckets[HIST_BUCKETS];
};

/* Records one value in microseconds. */
void hist_add(struct hist *h, uint64_t us);

/* The value (us) below which a fraction q (0 < q <= 1) of the values lie;
 * 0 for an empty histogram. */
uint64_t hist_quantile(const struct hist *h, double q);

/* Adds the counts of src into dst. */
void hist_merge(struct hist *dst, const struct hist *src);

#endif
