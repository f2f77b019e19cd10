#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/privdrop.h"
#include "unit.h"

TEST(privdrop_refuses_root_and_unknown_users)
{
	uid_t uid;
	gid_t gid;
	char err[256];
	CHECK(priv_lookup("root", &uid, &gid, err, sizeof(err)) == -1);
	CHECK(strstr(err, "refusing to run protocol code as root") != NULL);
	CHECK(priv_lookup("no-such-user-roost-test", &uid, &gid, err, sizeof(err)) == -1);
	CHECK(strstr(err, "does not exist") != NULL);
	CHECK(priv_lookup("nobody", &uid, &gid, err, sizeof(err)) == 1);
	CHECK(uid != 0);
}

TEST(privdrop_drops_for_good)
{
	char err[256];
	if (geteuid() != 0) {
		CHECK(priv_drop("nobody", err, sizeof(err)) == 0);
		return;
	}
	/* In a child, so the test process keeps its rights. */
	pid_t pid = fork();
	if (pid == 0) {
		int r = priv_drop("nobody", err, sizeof(err));
		_exit(r == 1 && geteuid() != 0 && getegid() != 0 && setuid(0) < 0 ? 0 : 1);
	}
	int status = 0;
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

UNIT_MAIN()
