/* privdrop.h - giving up root for the configured unprivileged user.
 *
 * Both programs start as root on a typical install (roostd to bind ports
 * below 1024 and read a root-only TLS key; roost so that files it creates
 * belong to the daemon's user) and switch for good to the config's `user`
 * before touching client data or the store.
 *
 * Return convention: -1 error (err says why), 0 nothing to do (not
 * running as root), 1 dropped. */
#ifndef ROOST_PRIVDROP_H
#define ROOST_PRIVDROP_H

#include <stddef.h>
#include <sys/types.h>

/* Looks the user up. Returns 1, or -1 if it does not exist or is root
 * (uid 0 is refused: protocol code never runs as root). */
int priv_lookup(const char *user, uid_t *uid_r, gid_t *gid_r, char *err, size_t cap);

/* When the effective uid is 0: sets the supplementary groups to just the
 * user's primary group, then the gid, then the uid (in that order: after
 * setuid the others are no longer allowed), and checks that root cannot
 * be regained. Not root: returns 0 and changes nothing. Call before
 * starting threads. */
int priv_drop(const char *user, char *err, size_t cap);

#endif
