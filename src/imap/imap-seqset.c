/* imap-seqset.c - sequence sets: parse, resolve, query, format. */
#include "imap/imap-seqset.h"

#include <stdlib.h>
#include <string.h>

void imap_seqset_init(struct imap_seqset *set)
{
	*set = IMAP_SEQSET_INIT;
}

void imap_seqset_clear(struct imap_seqset *set)
{
	free(set->ranges);
	imap_seqset_init(set);
}

static int seqset_grow(struct imap_seqset *set, size_t need)
{
	if (need <= set->cap)
		return 1;
	size_t cap = set->cap ? set->cap * 2 : 8;
	while (cap < need)
		cap *= 2;
	if (cap > SIZE_MAX / sizeof(*set->ranges))
		return -1;
	struct imap_seqset_range *r = realloc(set->ranges, cap * sizeof(*r));
	if (r == NULL)
		return -1;
	set->ranges = r;
	set->cap = cap;
	return 1;
}

/* seq-number = nz-number / "*". nz-number has no leading zero and fits in
 * 32 bits (RFC 9051 9: number = 1*DIGIT ; unsigned 32-bit integer). */
static int parse_seq_number(const char **pp, const char *end, uint32_t *n_r)
{
	const char *p = *pp;
	if (p < end && *p == '*') {
		*pp = p + 1;
		*n_r = 0;
		return 1;
	}
	if (p >= end || *p < '1' || *p > '9')
		return -1;
	uint64_t n = 0;
	while (p < end && *p >= '0' && *p <= '9') {
		n = n * 10 + (uint64_t)(*p - '0');
		if (n > UINT32_MAX)
			return -1;
		p++;
	}
	*pp = p;
	*n_r = (uint32_t)n;
	return 1;
}

/* Walks the grammar; appends ranges to set when set != NULL. */
static int seqset_scan(struct str text, struct imap_seqset *set, const char **error_r)
{
	const char *p = text.p, *end = text.p + text.len;
	if (text.len == 0) {
		*error_r = "Empty sequence set";
		return -1;
	}
	size_t nranges = 0;
	for (;;) {
		uint32_t lo, hi;
		if (parse_seq_number(&p, end, &lo) < 0) {
			*error_r = "Invalid sequence set (numbers must be 1..4294967295 or *)";
			return -1;
		}
		hi = lo;
		if (p < end && *p == ':') {
			p++;
			if (parse_seq_number(&p, end, &hi) < 0) {
				*error_r = "Invalid sequence set range";
				return -1;
			}
		}
		if (++nranges > IMAP_SEQSET_MAX_PARSED_RANGES) {
			*error_r = "Sequence set has too many ranges";
			return -1;
		}
		if (set != NULL) {
			if (seqset_grow(set, set->count + 1) < 0) {
				*error_r = "Out of memory";
				return -1;
			}
			set->ranges[set->count++] = (struct imap_seqset_range){lo, hi};
		}
		if (p == end)
			return 1;
		if (*p != ',') {
			*error_r = "Invalid character in sequence set";
			return -1;
		}
		p++;
	}
}

bool imap_seqset_is_syntax(struct str text)
{
	const char *err;
	return seqset_scan(text, NULL, &err) == 1;
}

int imap_seqset_parse(struct str text, bool allow_last, struct imap_seqset *set,
                      const char **error_r)
{
	set->count = 0;
	set->last_result = false;
	set->resolved = true;
	/* RFC 5182 2.1: "$" stands for the whole saved result; it is a
	 * sequence-set by itself, never one element of a list. */
	if (text.len == 1 && text.p[0] == '$') {
		if (!allow_last) {
			*error_r = "$ is not allowed here";
			return -1;
		}
		set->last_result = true;
		return 1;
	}
	set->resolved = false;
	if (seqset_scan(text, set, error_r) < 0) {
		/* Ranges scanned before the error are freed: a failed parse
		 * leaves the set empty and owning nothing. */
		imap_seqset_clear(set);
		return -1;
	}
	return 1;
}

static int range_cmp(const void *a, const void *b)
{
	const struct imap_seqset_range *x = a, *y = b;
	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	return x->hi < y->hi ? -1 : x->hi > y->hi;
}

/* Sorts and merges overlapping or adjacent ranges in place. */
static void seqset_normalize(struct imap_seqset *set)
{
	if (set->count > 1)
		qsort(set->ranges, set->count, sizeof(*set->ranges), range_cmp);
	size_t out = 0;
	for (size_t i = 0; i < set->count; i++) {
		struct imap_seqset_range r = set->ranges[i];
		if (out > 0 && (uint64_t)set->ranges[out - 1].hi + 1 >= r.lo) {
			if (r.hi > set->ranges[out - 1].hi)
				set->ranges[out - 1].hi = r.hi;
		} else {
			set->ranges[out++] = r;
		}
	}
	set->count = out;
	set->resolved = true;
}

int imap_seqset_resolve(struct imap_seqset *set, uint32_t star)
{
	if (set->resolved)
		return 1;
	size_t out = 0;
	for (size_t i = 0; i < set->count; i++) {
		uint32_t lo = set->ranges[i].lo ? set->ranges[i].lo : star;
		uint32_t hi = set->ranges[i].hi ? set->ranges[i].hi : star;
		if (lo > hi) {
			uint32_t t = lo;
			lo = hi;
			hi = t;
		}
		/* "*" in an empty mailbox is 0: no message has number 0. */
		if (hi == 0)
			continue;
		if (lo == 0)
			lo = 1;
		set->ranges[out++] = (struct imap_seqset_range){lo, hi};
	}
	set->count = out;
	seqset_normalize(set);
	return 1;
}

int imap_seqset_add_range(struct imap_seqset *set, uint32_t lo, uint32_t hi)
{
	if (lo > hi) {
		uint32_t t = lo;
		lo = hi;
		hi = t;
	}
	if (lo == 0)
		lo = 1;
	if (hi == 0)
		return 1;
	if (!set->resolved)
		seqset_normalize(set);
	if (set->count > 0) {
		struct imap_seqset_range *last = &set->ranges[set->count - 1];
		if (lo >= last->lo) {
			/* The common case: building in ascending order. */
			if ((uint64_t)last->hi + 1 >= lo) {
				if (hi > last->hi)
					last->hi = hi;
				return 1;
			}
		} else {
			if (seqset_grow(set, set->count + 1) < 0)
				return -1;
			set->ranges[set->count++] = (struct imap_seqset_range){lo, hi};
			seqset_normalize(set);
			return 1;
		}
	}
	if (seqset_grow(set, set->count + 1) < 0)
		return -1;
	set->ranges[set->count++] = (struct imap_seqset_range){lo, hi};
	return 1;
}

int imap_seqset_add(struct imap_seqset *set, uint32_t n)
{
	return imap_seqset_add_range(set, n, n);
}

int imap_seqset_copy(struct imap_seqset *dst, const struct imap_seqset *src)
{
	dst->count = 0;
	if (seqset_grow(dst, src->count) < 0)
		return -1;
	if (src->count > 0)
		memcpy(dst->ranges, src->ranges, src->count * sizeof(*src->ranges));
	dst->count = src->count;
	dst->resolved = src->resolved;
	dst->last_result = src->last_result;
	return 1;
}

bool imap_seqset_contains(const struct imap_seqset *set, uint32_t n)
{
	size_t lo = 0, hi = set->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct imap_seqset_range *r = &set->ranges[mid];
		if (n < r->lo)
			hi = mid;
		else if (n > r->hi)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

bool imap_seqset_is_empty(const struct imap_seqset *set)
{
	return set->count == 0;
}

uint64_t imap_seqset_count(const struct imap_seqset *set)
{
	uint64_t n = 0;
	for (size_t i = 0; i < set->count; i++)
		n += (uint64_t)set->ranges[i].hi - set->ranges[i].lo + 1;
	return n;
}

uint32_t imap_seqset_min(const struct imap_seqset *set)
{
	return set->count ? set->ranges[0].lo : 0;
}

uint32_t imap_seqset_max(const struct imap_seqset *set)
{
	return set->count ? set->ranges[set->count - 1].hi : 0;
}

bool imap_seqset_iter_next(const struct imap_seqset *set, struct imap_seqset_iter *it,
                           uint32_t *n_r)
{
	while (it->range < set->count) {
		const struct imap_seqset_range *r = &set->ranges[it->range];
		if (it->next == 0)
			it->next = r->lo;
		if (it->next <= r->hi) {
			*n_r = (uint32_t)it->next++;
			return true;
		}
		it->range++;
		it->next = 0;
	}
	return false;
}

int imap_seqset_format(const struct imap_seqset *set, struct buf *out)
{
	for (size_t i = 0; i < set->count; i++) {
		const struct imap_seqset_range *r = &set->ranges[i];
		int ret;
		if (r->lo == r->hi)
			ret = buf_printf(out, "%s%u", i ? "," : "", r->lo);
		else
			ret = buf_printf(out, "%s%u:%u", i ? "," : "", r->lo, r->hi);
		if (ret < 0)
			return -1;
	}
	return 1;
}
