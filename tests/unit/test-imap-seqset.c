/* Unit tests for imap-seqset: parsing, resolving "*", merging, "$", limits,
 * membership, iteration and formatting. */
#include "unit.h"

#include "imap/imap-seqset.h"

/* Parses text, resolves with star, formats: the canonical form. */
static const char *canon(const char *text, uint32_t star)
{
	static char out[256];
	struct imap_seqset set = IMAP_SEQSET_INIT;
	const char *err = NULL;
	if (imap_seqset_parse(str_c(text), false, &set, &err) < 0)
		return "ERR";
	imap_seqset_resolve(&set, star);
	struct buf b = BUF_INIT(0);
	imap_seqset_format(&set, &b);
	str_copy_cstr(buf_str(&b), out, sizeof(out));
	buf_free(&b);
	imap_seqset_clear(&set);
	return out;
}

TEST(seqset_simple_forms)
{
	CHECK_STREQ(canon("1", 10), "1");
	CHECK_STREQ(canon("1:*", 10), "1:10");
	CHECK_STREQ(canon("*", 10), "10");
	CHECK_STREQ(canon("*:4", 10), "4:10");
	CHECK_STREQ(canon("4:2", 10), "2:4");
	CHECK_STREQ(canon("2,4:7,9,12:*", 15), "2,4:7,9,12:15");
	CHECK_STREQ(canon("*:4,5:7", 10), "4:10");
	CHECK_STREQ(canon("4294967295", 10), "4294967295");
}

TEST(seqset_merges_duplicates_and_order)
{
	CHECK_STREQ(canon("5,3,4,1", 0), "1,3:5");
	CHECK_STREQ(canon("3,3,3", 0), "3");
	CHECK_STREQ(canon("10:20,15:25,1:2,3", 0), "1:3,10:25");
	CHECK_STREQ(canon("7:9,1:6", 0), "1:9");
}

TEST(seqset_star_beyond_last)
{
	/* RFC 9051 9: UID 3291:* includes the last UID even if smaller. */
	CHECK_STREQ(canon("3291:*", 100), "100:3291");
	/* Empty mailbox: "*" is 0 and matches nothing. */
	CHECK_STREQ(canon("*", 0), "");
	CHECK_STREQ(canon("1:*", 0), "1");
}

TEST(seqset_bad_syntax)
{
	const char *bad[] = {"",  "0",   "0:5", "5:0",        "-1",   "1,", ",1", "1::2", "1:2:3",
	                     "a", "1 2", "01",  "4294967296", "1,,2", "**", "$",  "1,$",  "1:"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct imap_seqset set = IMAP_SEQSET_INIT;
		const char *err = NULL;
		int ret = imap_seqset_parse(str_c(bad[i]), false, &set, &err);
		if (ret != -1)
			fprintf(stderr, "  accepted: '%s'\n", bad[i]);
		CHECK(ret == -1);
		CHECK(err != NULL);
		CHECK(set.count == 0);
		CHECK(!imap_seqset_is_syntax(str_c(bad[i])));
		imap_seqset_clear(&set);
	}
	CHECK(imap_seqset_is_syntax(str_c("1:*,7")));
}

TEST(seqset_last_result)
{
	struct imap_seqset set = IMAP_SEQSET_INIT;
	const char *err = NULL;
	CHECK(imap_seqset_parse(str_c("$"), true, &set, &err) == 1);
	CHECK(set.last_result);
	CHECK(set.count == 0);
	CHECK(imap_seqset_parse(str_c("1,$"), true, &set, &err) == -1);
	CHECK(imap_seqset_parse(str_c("2:3"), true, &set, &err) == 1);
	CHECK(!set.last_result);
	imap_seqset_clear(&set);
}

TEST(seqset_limit)
{
	struct buf b = BUF_INIT(0);
	for (int i = 0; i < IMAP_SEQSET_MAX_PARSED_RANGES + 1; i++)
		buf_printf(&b, "%s%d", i ? "," : "", i * 2 + 1);
	struct imap_seqset set = IMAP_SEQSET_INIT;
	const char *err = NULL;
	CHECK(imap_seqset_parse(buf_str(&b), false, &set, &err) == -1);
	CHECK_STREQ(err, "Sequence set has too many ranges");
	buf_free(&b);
	imap_seqset_clear(&set);
}

TEST(seqset_contains_iter_count)
{
	struct imap_seqset set = IMAP_SEQSET_INIT;
	const char *err;
	CHECK(imap_seqset_parse(str_c("20:22,1,5:6"), false, &set, &err) == 1);
	CHECK(imap_seqset_resolve(&set, 100) == 1);
	CHECK(imap_seqset_contains(&set, 1));
	CHECK(!imap_seqset_contains(&set, 2));
	CHECK(imap_seqset_contains(&set, 6));
	CHECK(imap_seqset_contains(&set, 21));
	CHECK(!imap_seqset_contains(&set, 23));
	CHECK(imap_seqset_count(&set) == 6);
	CHECK(imap_seqset_min(&set) == 1);
	CHECK(imap_seqset_max(&set) == 22);
	uint32_t got[10], n;
	size_t k = 0;
	struct imap_seqset_iter it = IMAP_SEQSET_ITER_INIT;
	while (k < 10 && imap_seqset_iter_next(&set, &it, &n))
		got[k++] = n;
	CHECK(k == 6);
	CHECK(got[0] == 1 && got[1] == 5 && got[2] == 6 && got[3] == 20 && got[5] == 22);
	imap_seqset_clear(&set);

	/* Iterating up to UINT32_MAX does not wrap. */
	CHECK(imap_seqset_add_range(&set, 4294967294u, 4294967295u) == 1);
	it = IMAP_SEQSET_ITER_INIT;
	k = 0;
	while (k < 10 && imap_seqset_iter_next(&set, &it, &n))
		k++;
	CHECK(k == 2);
	imap_seqset_clear(&set);
}

TEST(seqset_build_and_format)
{
	struct imap_seqset set = IMAP_SEQSET_INIT;
	uint32_t uids[] = {1, 2, 3, 5, 7, 8, 9, 100};
	for (size_t i = 0; i < 8; i++)
		CHECK(imap_seqset_add(&set, uids[i]) == 1);
	struct buf b = BUF_INIT(0);
	imap_seqset_format(&set, &b);
	CHECK_STREQ(buf_cstr(&b), "1:3,5,7:9,100");
	/* Out-of-order additions are merged too. */
	CHECK(imap_seqset_add(&set, 4) == 1);
	CHECK(imap_seqset_add(&set, 6) == 1);
	buf_reset(&b);
	imap_seqset_format(&set, &b);
	CHECK_STREQ(buf_cstr(&b), "1:9,100");
	/* A formatting buffer that is too small fails cleanly. */
	struct buf small = BUF_INIT(3);
	CHECK(imap_seqset_format(&set, &small) == -1);
	buf_free(&small);

	struct imap_seqset copy = IMAP_SEQSET_INIT;
	CHECK(imap_seqset_copy(&copy, &set) == 1);
	CHECK(imap_seqset_count(&copy) == 10);
	imap_seqset_clear(&copy);
	buf_free(&b);
	imap_seqset_clear(&set);
	CHECK(imap_seqset_is_empty(&set));
}

UNIT_MAIN()
