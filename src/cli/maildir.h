/* maildir.h - Maildir names and index files, without I/O.
 *
 * Pure functions used by `roost import maildir` and `roost export
 * maildir`:
 *  - message file names "<base>:2,<flags>" (Maildir's info suffix): the
 *    system flags (P passed, R replied, S seen, T trashed, D draft,
 *    F flagged) and Dovecot's keyword letters a..z;
 *  - Dovecot's ",S=<size>" and ",W=<virtual size>" fields in the base;
 *  - Maildir++ folder names (".Sub.Folder" is "Sub/Folder", in modified
 *    UTF-7, RFC 3501 5.1.3) to and from Roost mailbox names (UTF-8);
 *  - lines of dovecot-uidlist (versions 1 and 3), courierimapuiddb and
 *    dovecot-keywords.
 *
 * Return convention: -1 malformed, 0 "not this kind of line", 1 done. */
#ifndef ROOST_CLI_MAILDIR_H
#define ROOST_CLI_MAILDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/str.h"

#define MAILDIR_KEYWORDS_MAX 26 /* Dovecot's letters a..z */

struct maildir_name {
	struct str base;   /* the name up to ":2," (the unique part) */
	uint8_t flags;     /* enum store_flag bits */
	bool passed;       /* P: forwarded; imported as keyword $Forwarded */
	uint32_t keywords; /* bit i: letter 'a' + i */
	uint64_t size;     /* ,S= (0 if absent) */
	uint64_t vsize;    /* ,W= (0 if absent) */
};

/* Parses a file name from cur/ or new/. Names without ":2," have no
 * flags. Returns 1 (never fails: unknown flag letters are ignored). */
int maildir_name_parse(struct str name, struct maildir_name *n_r);

/* The ":2,<flags>" suffix for export, flags in ASCII order as Maildir
 * requires (DFPRST, then keyword letters). Returns the length. */
size_t maildir_info_format(uint8_t flags, bool passed, uint32_t keywords, char *out,
			   size_t cap);

/* ".Sub.Folder" (a Maildir++ folder directory, each component in modified
 * UTF-7, lib/mutf7.h, encoded printable ASCII allowed) into "Sub/Folder"
 * (UTF-8, '/' separated). "." itself (the root) is not a folder. Returns the
 * length or -1 (not a Maildir++ folder name, bad encoding). */
long maildir_folder_to_mailbox(struct str dir, char *out, size_t cap);
/* The reverse: "Sub/Folder" into ".Sub.Folder". A '.' inside a
 * component is written encoded ("&AC4-") so it does not split names. */
long maildir_mailbox_to_folder(struct str mailbox, char *out, size_t cap);

/* dovecot-uidlist / courierimapuiddb. */
struct maildir_uidlist_header {
	unsigned version;    /* 1 or 3 */
	uint32_t uidvalidity;
	uint32_t next_uid;
};
/* The first line: "3 V<uidvalidity> N<nextuid> ..." or "1 <uidvalidity>
 * <nextuid>" (Courier's and old Dovecot's). */
int maildir_uidlist_header_parse(struct str line, struct maildir_uidlist_header *h_r);
/* A record: "<uid> [fields] :<base>" (v3) or "<uid> <base>" (v1). The
 * base is the file name up to ":2,". */
int maildir_uidlist_record_parse(unsigned version, struct str line, uint32_t *uid_r,
				 struct str *base_r);

/* dovecot-keywords: "<index> <keyword>". Returns 1 with the index
 * (0..25) and the keyword, 0 for an empty line, -1 otherwise. */
int maildir_keywords_line_parse(struct str line, unsigned *index_r, struct str *keyword_r);

#endif
