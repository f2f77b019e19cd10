/* fuzz-mbox.c - the mbox parser and the From_ line date parser.
 *
 * The first input byte picks the chunk size (1..64) the rest is fed in.
 * Checks: progress is always made, BEGIN and END alternate, data only
 * arrives inside a message, and the split does not change the output
 * (the same input fed at once gives the same digest of items). */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cli/mbox.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* FNV-1a over the items, so two runs can be compared. */
static uint64_t mix(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;
	for (size_t i = 0; i < n; i++) {
		h ^= c[i];
		h *= 1099511628211ull;
	}
	return h;
}

static uint64_t item_hash(uint64_t h, const struct mbox_item *item, bool *in_msg)
{
	switch (item->type) {
	case MBOX_ITEM_BEGIN: {
		assert(!*in_msg);
		*in_msg = true;
		int64_t t;
		int tz;
		(void)mbox_from_line_date(item->text, &t, &tz);
		h = mix(h, "B", 1);
		return mix(h, item->text.p, item->text.len);
	}
	case MBOX_ITEM_DATA:
		assert(*in_msg);
		/* Data is hashed byte-wise, independent of how it was split. */
		return mix(h, item->text.p, item->text.len);
	case MBOX_ITEM_END:
		assert(*in_msg);
		*in_msg = false;
		return mix(h, "E", 1);
	}
	return h;
}

static uint64_t run(const uint8_t *data, size_t size, size_t step)
{
	struct mbox_parser p;
	mbox_parser_init(&p);
	uint64_t h = 14695981039346656037ull;
	bool in_msg = false;
	struct mbox_item item;
	for (size_t off = 0; off < size;) {
		size_t n = size - off < step ? size - off : step;
		size_t pos = 0;
		for (;;) {
			size_t used = 0;
			int ret = mbox_parser_feed(&p, (const char *)data + off + pos, n - pos, &used,
						   &item);
			assert(used <= n - pos);
			pos += used;
			if (ret == 0)
				break;
			h = item_hash(h, &item, &in_msg);
		}
		assert(pos == n);
		off += n;
	}
	while (mbox_parser_finish(&p, &item) == 1)
		h = item_hash(h, &item, &in_msg);
	assert(!in_msg);
	return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	size_t step = (data[0] % 64) + 1;
	uint64_t a = run(data + 1, size - 1, step);
	uint64_t b = run(data + 1, size - 1, size);
	assert(a == b);
	return 0;
}
