/* hist.c - log-linear latency histogram (see hist.h). */
#include "hist.h"

/* Bucket of a value: v < 128 maps to itself; otherwise with m the index of
 * the highest set bit, shift = m - 6 keeps the top 7 bits of v, (v >> shift)
 * is in [64, 127], and the bucket is 64 * shift + (v >> shift), which
 * continues right after 127 for shift = 1. */
static unsigned hist_bucket(uint64_t v)
{
	if (v < 128)
		return (unsigned)v;
	unsigned msb = 63u - (unsigned)__builtin_clzll(v);
	unsigned shift = msb - 6;
	uint64_t idx = 64u * (uint64_t)shift + (v >> shift);
	return idx >= HIST_BUCKETS ? HIST_BUCKETS - 1 : (unsigned)idx;
}

/* Upper bound (inclusive) of the values a bucket holds. */
static uint64_t hist_bucket_top(unsigned idx)
{
	if (idx < 128)
		return idx;
	unsigned shift = idx / 64 - 1;
	uint64_t mant = idx % 64 + 64;
	return ((mant + 1) << shift) - 1;
}

void hist_add(struct hist *h, uint64_t us)
{
	h->count++;
	h->sum_us += us;
	if (us > h->max_us)
		h->max_us = us;
	h->buckets[hist_bucket(us)]++;
}

uint64_t hist_quantile(const struct hist *h, double q)
{
	if (h->count == 0)
		return 0;
	/* The rank of the q-quantile, 1-based, rounded up. */
	uint64_t rank = (uint64_t)(q * (double)h->count);
	if ((double)rank < q * (double)h->count)
		rank++;
	if (rank == 0)
		rank = 1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->buckets[i];
		if (seen >= rank) {
			uint64_t top = hist_bucket_top(i);
			return top > h->max_us ? h->max_us : top;
		}
	}
	return h->max_us;
}

void hist_merge(struct hist *dst, const struct hist *src)
{
	dst->count += src->count;
	dst->sum_us += src->sum_us;
	if (src->max_us > dst->max_us)
		dst->max_us = src->max_us;
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		dst->buckets[i] += src->buckets[i];
}
