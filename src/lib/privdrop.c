#include "privdrop.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int priv_lookup(const char *user, uid_t *uid_r, gid_t *gid_r, char *err, size_t cap)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	int e = getpwnam_r(user, &pw, buf, sizeof(buf), &res);
	if (res == NULL) {
		if (e != 0)
			snprintf(err, cap, "user: cannot look up '%s': %s", user, strerror(e));
		else
			snprintf(err, cap,
				 "user: '%s' does not exist (create it, e.g. useradd --system %s)",
				 user, user);
		return -1;
	}
	if (pw.pw_uid == 0) {
		snprintf(err, cap, "user: '%s' is root; refusing to run protocol code as root", user);
		return -1;
	}
	*uid_r = pw.pw_uid;
	*gid_r = pw.pw_gid;
	return 1;
}

int priv_drop(const char *user, char *err, size_t cap)
{
	if (geteuid() != 0)
		return 0;
	uid_t uid;
	gid_t gid;
	if (priv_lookup(user, &uid, &gid, err, cap) < 0)
		return -1;
	if (setgroups(1, &gid) < 0) {
		snprintf(err, cap, "setgroups(%u): %s", (unsigned)gid, strerror(errno));
		return -1;
	}
	if (setgid(gid) < 0) {
		snprintf(err, cap, "setgid(%u): %s", (unsigned)gid, strerror(errno));
		return -1;
	}
	if (setuid(uid) < 0) {
		snprintf(err, cap, "setuid(%u): %s", (unsigned)uid, strerror(errno));
		return -1;
	}
	if (setuid(0) == 0 || geteuid() == 0) {
		snprintf(err, cap, "still able to become root after dropping to '%s'", user);
		return -1;
	}
	return 1;
}
