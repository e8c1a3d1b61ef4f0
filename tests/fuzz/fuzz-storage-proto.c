/* SPDX-License-Identifier: Apache-2.0 */
/* The storage driver skeleton end to end, in process: stdin JSON of a driver call through
 * berth_stor_main() (version negotiation, root/runRoot, options, args, the stream) to a fake
 * driver whose verbs only parse their arguments the way the real drivers do; no verb touches
 * a store.  The first input byte picks STOR_COMMAND ('A'.. one per protocol verb, then an
 * unknown one).  Streams: APPLY_DIFF opens args.stream for reading; the harness lets through
 * only its own file as a path and only fd 3 (its own memfd, when fd 3 is free: libFuzzer's
 * -merge keeps its control file there) or closed fds, so an input can neither open a device
 * nor close a descriptor of the fuzzer. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "berth/cleanup.h"
#include "berth/json.h"
#include "berth/cni.h"
#include "berth/storage-skel.h"

static char stream_path[64];

static int fake_verb(const struct berth_stor_call *call, json_t **ret, berth_error *err)
{
	const char *id = NULL, *parent = NULL;
	json_t *keep, *v;
	size_t i;
	int r;

	if ((r = berth_stor_arg_id(call, "id", false, &id, err)) < 0 ||
	    (r = berth_stor_arg_id(call, "parent", false, &parent, err)) < 0)
		return r;
	keep = json_object_get(call->args, "keep");
	json_array_foreach(keep, i, v)
		if (!berth_stor_id_valid(json_string_value(v)))
			return berth_error_set(err, BERTH_CNI_ERR_INVALID_CONFIG, EINVAL,
					       "args.keep[%zu]: invalid layer id", i);
	if (call->stream_fd >= 0) {
		char buf[512];
		(void)!read(call->stream_fd, buf, sizeof(buf));
	}
	*ret = json_pack("{s:s,s:s,s:s,s:O}", "root", call->root, "runRoot", call->run_root,
			 "id", id ? id : "", "options", call->options);
	/* map every errno the drivers report through the code tables */
	(void)berth_stor_code_errno(berth_stor_errno_code((int)(id ? strlen(id) : 0)));
	return 0;
}

#define V(name, stream) { name, fake_verb, stream }
static const struct berth_stor_verb verbs[] = {
	V("INIT", BERTH_STOR_STREAM_NONE),	  V("STATUS", BERTH_STOR_STREAM_NONE),
	V("CREATE", BERTH_STOR_STREAM_NONE),	  V("REMOVE", BERTH_STOR_STREAM_NONE),
	V("MOUNT", BERTH_STOR_STREAM_NONE),	  V("UNMOUNT", BERTH_STOR_STREAM_NONE),
	V("EXISTS", BERTH_STOR_STREAM_NONE),	  V("LIST", BERTH_STOR_STREAM_NONE),
	V("METADATA", BERTH_STOR_STREAM_NONE),	  V("CHANGES", BERTH_STOR_STREAM_NONE),
	V("APPLY_DIFF", BERTH_STOR_STREAM_IN),	  V("DIFF_SIZE", BERTH_STOR_STREAM_NONE),
	V("GC", BERTH_STOR_STREAM_NONE),	  { NULL, NULL, 0 },
};
/* DIFF (a stream the driver would create), USAGE and CLEANUP are left out: code 12 paths */
static const char *const options[] = { "mount_api", "index", "size", NULL };
static const struct berth_stor_driver driver = {
	.name = "fuzz", .version = "0.0.1", .options = options, .verbs = verbs,
};

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);

	if (!getenv("FUZZ_SHOW_OUTPUT"))
		dup2(fd, STDOUT_FILENO); /* the protocol output */
	close(fd);
	/* one fixed name: libFuzzer's -merge and timeouts end processes without atexit */
	snprintf(stream_path, sizeof(stream_path), "/tmp/fuzz-storage-proto.stream");
	fd = open(stream_path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, "not a tar", 9) != 9)
		abort();
	close(fd);
	setenv("BERTH_LOG_LEVEL", "error", 1);
	return 0;
}

/* Only streams the harness owns (see the top comment). */
static bool stream_allowed(const unsigned char *data, size_t size, bool own3)
{
	_cleanup_json_ json_t *j = NULL;
	json_t *st, *fd, *path;

	if (berth_json_parse((const char *)data, size, &j, NULL) < 0)
		return true;
	st = json_object_get(json_object_get(j, "args"), "stream");
	fd = json_object_get(st, "fd");
	path = json_object_get(st, "path");
	if (json_is_integer(fd) && !(own3 && json_integer_value(fd) == 3) &&
	    json_integer_value(fd) > 2 && json_integer_value(fd) < 65536 &&
	    fcntl((int)json_integer_value(fd), F_GETFD) >= 0)
		return false;
	if (json_is_string(path) && *json_string_value(path) &&
	    strcmp(json_string_value(path), stream_path) != 0)
		return false;
	return true;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	static const char *const cmds[] = {
		"VERSION", "INIT",	 "STATUS",    "CREATE", "REMOVE",    "MOUNT",
		"UNMOUNT", "EXISTS",	 "LIST",      "METADATA", "DIFF",    "CHANGES",
		"APPLY_DIFF", "DIFF_SIZE", "USAGE",   "CLEANUP", "GC",	     "BOGUS",
	};
	char *argv[] = { (char *)"fuzz", NULL };
	bool own3 = fcntl(3, F_GETFD) < 0; /* we close ours after every run */
	int p[2], mfd;

	if (size < 1 || size > 60000 || !stream_allowed(data + 1, size - 1, own3) || pipe(p) < 0)
		return 0;
	setenv("STOR_COMMAND", cmds[(unsigned char)(data[0] - 'A') % ARRAY_SIZE(cmds)], 1);
	if (write(p[1], data + 1, size - 1) != (ssize_t)(size - 1))
		abort();
	close(p[1]);
	/* stdin is replaced on every run; nothing else of the harness stays open above 2 */
	dup2(p[0], STDIN_FILENO);
	close(p[0]);
	mfd = own3 ? memfd_create("stream", 0) : -1;
	if (mfd >= 0 && mfd != 3) {
		dup2(mfd, 3);
		close(mfd);
	}
	(void)berth_stor_main(&driver, 1, argv);
	if (own3)
		close(3);
	return 0;
}
