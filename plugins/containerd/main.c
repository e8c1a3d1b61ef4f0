/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth-snapshotter: a containerd proxy snapshotter over berth's storage drivers.
 *
 *   berth-snapshotter [--address PATH] [--config FILE] [--root DIR] [--storage-config FILE]
 *                     [--log-level error|warn|info|debug] [--workers N]
 *
 * The host's storage config (/etc/berth/storage.json) selects the driver, as for `berth
 * storage`; the snapshotter keeps its own layers under <storage root>/containerd (the driver
 * gets <that>/<driver>) and its metadata in <that>/metadata.db.  docs/containerd.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/capability.h>

#include "berth/cleanup.h"
#include "berth/file.h"
#include "berth/json.h"
#include "berth/log.h"
#include "berth/storage-client.h"
#include "berth/storage-proto.h"
#include "berth/storage-select.h"
#include "snapshotter.h"

#define DEFAULT_ADDRESS "/run/berth-snapshotter/berth-snapshotter.sock"
#define DEFAULT_CONFIG BERTH_SYSCONFDIR "/berth/snapshotter.json"

struct opts {
	char *address, *config, *root, *run_root, *storage_config, *log_level;
	long workers, drain;
	bool keep_caps;
};

static void usage(FILE *f)
{
	fputs("usage: berth-snapshotter [--address PATH] [--config FILE] [--root DIR]\n"
	      "                         [--storage-config FILE] [--log-level LEVEL] [--workers N]\n"
	      "                         [--keep-all-capabilities]\n"
	      "A containerd proxy snapshotter (containerd.services.snapshots.v1.Snapshots on a\n"
	      "unix socket) over the berth storage driver /etc/berth/storage.json selects.\n"
	      "  --address PATH         the socket (default " DEFAULT_ADDRESS ")\n"
	      "  --config FILE          JSON config (default " DEFAULT_CONFIG " when present):\n"
	      "                         address, root, runRoot, storageConfig, logLevel, workers,\n"
	      "                         drainTimeout\n"
	      "  --root DIR             state: metadata.db and the driver's layers\n"
	      "                         (default <storage root>/containerd)\n"
	      "  --storage-config FILE  the host's storage config (default /etc/berth/storage.json)\n"
	      "  --log-level LEVEL      error, warn (default), info, debug; logs go to stderr\n"
	      "  --workers N            calls served at once (default 8)\n"
	      "See docs/containerd.md.\n",
	      f);
}

static int set_str(char **dst, const char *v)
{
	free(*dst);
	*dst = v ? strdup(v) : NULL;
	return v && !*dst ? -ENOMEM : 0;
}

static int load_config(struct opts *o, const char *path, bool must_exist, berth_error *err)
{
	static const char *const known[] = { "address",	 "root",	 "runRoot",
					     "storageConfig", "logLevel", "workers",
					     "drainTimeout", "comment",	 NULL };
	_cleanup_json_ json_t *j = NULL;
	const char *key, *s;
	json_t *v;
	int64_t n;
	int r;

	if (!must_exist && access(path, F_OK) < 0)
		return 0;
	r = berth_json_load_file(path, &j, err);
	if (r < 0)
		return berth_error_prefix(err, "%s", path);
	if (!json_is_object(j))
		return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EINVAL,
				       "%s: not a JSON object", path);
	json_object_foreach(j, key, v) {
		bool ok = false;
		for (size_t i = 0; known[i]; i++)
			ok = ok || STREQ(known[i], key);
		if (!ok)
			return berth_error_set(err, BERTH_ERR_UNSUPPORTED_FIELD, EINVAL,
					       "%s: unknown key \"%s\"", path, key);
	}
#define STR(k, dst)                                                                               \
	do {                                                                                       \
		s = NULL;                                                                          \
		if ((r = berth_json_get_string(j, path, k, false, &s, err)) < 0)                    \
			return r;                                                                  \
		if (s && !dst && set_str(&dst, s) < 0)                                             \
			return -ENOMEM;                                                            \
	} while (0)
	/* the command line wins: only fill what it left unset */
	STR("address", o->address);
	STR("root", o->root);
	STR("runRoot", o->run_root);
	STR("storageConfig", o->storage_config);
	STR("logLevel", o->log_level);
#undef STR
	if ((r = berth_json_get_int(j, path, "workers", false, 1, 1024, &n, err)) < 0)
		return r;
	if (json_object_get(j, "workers") && o->workers <= 0)
		o->workers = n;
	if ((r = berth_json_get_int(j, path, "drainTimeout", false, 0, 3600, &n, err)) < 0)
		return r;
	if (json_object_get(j, "drainTimeout") && o->drain < 0)
		o->drain = n;
	return 0;
}

/* Never TCP: the address is a filesystem path, optionally written unix:PATH. */
static int check_address(char **addr, berth_error *err)
{
	const char *a = *addr;

	if (!strncmp(a, "unix://", 7))
		a += 7;
	else if (!strncmp(a, "unix:", 5))
		a += 5;
	if (a[0] != '/')
		return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EINVAL,
				       "address \"%s\": must be the absolute path of a unix socket "
				       "(TCP is never served)",
				       *addr);
	if (strlen(a) >= 108)
		return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, ENAMETOOLONG,
				       "address \"%s\": longer than a unix socket path can be", a);
	if (a != *addr)
		memmove(*addr, a, strlen(a) + 1);
	return 0;
}

/* The socket's directory: created 0700 when missing; an existing one must be root's and not
 * writable by group or others, or anybody could replace the socket containerd dials. */
static int socket_dir(const char *address, int *ret_lock, berth_error *err)
{
	_cleanup_free_ char *dir = strdup(address), *lock = NULL;
	struct stat st;
	char *slash;
	int r;

	if (!dir)
		return -ENOMEM;
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	if (lstat(dir, &st) < 0) {
		if (errno != ENOENT)
			return berth_error_errno(err, BERTH_ERR_IO, "%s", dir);
		r = berth_mkdir_p(dir, 0700, err);
		if (r < 0)
			return r;
		if (lstat(dir, &st) < 0)
			return berth_error_errno(err, BERTH_ERR_IO, "%s", dir);
	}
	if (!S_ISDIR(st.st_mode))
		return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, ENOTDIR,
				       "socket directory %s is not a directory (a symlink?)", dir);
	if (st.st_uid != geteuid())
		return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EPERM,
				       "socket directory %s is owned by uid %u, not by us", dir,
				       (unsigned)st.st_uid);
	if (st.st_mode & 022)
		return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EPERM,
				       "socket directory %s is writable by %s (mode %04o): refusing "
				       "to serve there",
				       dir, (st.st_mode & 002) ? "others" : "its group",
				       (unsigned)(st.st_mode & 07777));
	if ((st.st_mode & 077) != 0)
		berth_log_warn("socket directory %s has mode %04o; 0700 keeps it to root", dir,
			       (unsigned)(st.st_mode & 07777));
	/* one daemon per socket: a second one would take the socket from the first */
	if (asprintf(&lock, "%s.lock", address) < 0)
		return -ENOMEM;
	*ret_lock = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (*ret_lock < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "%s", lock);
	if (flock(*ret_lock, LOCK_EX | LOCK_NB) < 0)
		return berth_error_set(err, BERTH_ERR_TRY_AGAIN, EBUSY,
				       "another berth-snapshotter serves %s", address);
	if (lstat(address, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EEXIST,
					       "%s exists and is not a socket", address);
		unlink(address); /* a stale socket of a daemon that died */
	}
	return 0;
}

/* What the storage drivers need (mounts, device-mapper, ownership and modes of any file,
 * device nodes for whiteouts); everything else leaves the bounding set, so no driver or tool
 * the daemon starts can get it back. */
static const int keep_caps[] = { CAP_CHOWN,	    CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH,
				 CAP_FOWNER,	    CAP_FSETID,	      CAP_MKNOD,
				 CAP_SYS_ADMIN,	    CAP_SYS_RESOURCE };

static int drop_capabilities(berth_error *err)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2] = { 0 };
	_cleanup_free_ char *s = NULL;
	int last = CAP_LAST_CAP;

	if (berth_read_file("/proc/sys/kernel/cap_last_cap", 32, &s, NULL, NULL) == 0)
		last = atoi(s);
	for (int c = 0; c <= last; c++) {
		bool keep = false;
		for (size_t i = 0; i < ARRAY_SIZE(keep_caps); i++)
			keep = keep || keep_caps[i] == c;
		/* already out (systemd's CapabilityBoundingSet= takes CAP_SETPCAP with the rest,
		 * and dropping needs it even for a capability that is gone) */
		if (keep || prctl(PR_CAPBSET_READ, c, 0, 0, 0) <= 0)
			continue;
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) == 0)
			continue;
		if (errno != EPERM)
			return berth_error_errno(err, BERTH_ERR_IO, "drop capability %d", c);
		/* no CAP_SETPCAP: it stays in the bounding set, but out of the permitted set
		 * (below), and no_new_privs keeps any program we start from gaining it */
		berth_log_warn("capability %d stays in the bounding set (no CAP_SETPCAP to drop it)",
			       c);
	}
	{
		/* keep what we have of the list (a container may have given us less) */
		struct __user_cap_data_struct cur[2] = { 0 };
		if (syscall(SYS_capget, &h, cur) < 0)
			return berth_error_errno(err, BERTH_ERR_IO, "capget");
		for (size_t i = 0; i < ARRAY_SIZE(keep_caps); i++) {
			uint32_t bit = 1u << (keep_caps[i] % 32);
			if (!(cur[keep_caps[i] / 32].permitted & bit))
				continue;
			d[keep_caps[i] / 32].effective |= bit;
			d[keep_caps[i] / 32].permitted |= bit;
		}
	}
	if (syscall(SYS_capset, &h, d) < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "capset");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return berth_error_errno(err, BERTH_ERR_IO, "no_new_privs");
	return 0;
}

/*
 * Give back the pages of shared libraries that only start-up needed.  gRPC's C core is a large
 * C++ library: the dynamic linker reads its relocation and symbol tables and runs its
 * initialisers, and the kernel's fault-around maps 64 KiB around every page touched, so right
 * after start most of libgrpc, libcrypto and libstdc++ count in the daemon's RSS although a
 * call uses a small part of them.  Read-only file mappings that hold no private (copied on
 * write) page are dropped (MADV_DONTNEED: the page cache keeps them, a later access maps the
 * page again) and marked MADV_RANDOM (no fault-around).  Mappings with private pages (RELRO,
 * data) are left alone: dropping those would lose their relocations.
 */
void snap_trim_memory(void)
{
	FILE *f = fopen("/proc/self/smaps", "re");
	char line[600], perms[8] = "";
	unsigned long a = 0, b = 0, anon = 0, pdirty = 0;
	bool have = false, file = false;

	if (!f)
		return;
	for (;;) {
		char *l = fgets(line, sizeof(line), f);
		unsigned long x, y;
		char p[8];

		if (!l || sscanf(line, "%lx-%lx %7s", &x, &y, p) == 3) {
			if (have && file && perms[1] != 'w' && anon == 0 && pdirty == 0) {
				madvise((void *)a, b - a, MADV_RANDOM);
				madvise((void *)a, b - a, MADV_DONTNEED);
			}
			if (!l)
				break;
			a = x, b = y, anon = 0, pdirty = 0, have = true;
			memcpy(perms, p, sizeof(perms));
			file = strchr(line, '/') != NULL;
			continue;
		}
		sscanf(line, "Anonymous: %lu", &anon);
		sscanf(line, "Private_Dirty: %lu", &pdirty);
	}
	fclose(f);
}

static int fail(const berth_error *err)
{
	berth_log_error("%s%s%s", err->msg, err->details[0] ? ": " : "", err->details);
	return 1;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "address", required_argument, NULL, 'a' },
		{ "config", required_argument, NULL, 'c' },
		{ "root", required_argument, NULL, 'r' },
		{ "storage-config", required_argument, NULL, 's' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "workers", required_argument, NULL, 'w' },
		{ "keep-all-capabilities", no_argument, NULL, 'K' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct opts o = { .workers = -1, .drain = -1 };
	struct berth_stor_config *scfg = NULL;
	struct berth_stor_selection sel = { 0 };
	struct snap_meta *meta = NULL;
	struct snap_svc svc;
	berth_error err = { 0 };
	_cleanup_free_ char *db = NULL, *sticky = NULL, *rootlock = NULL;
	_cleanup_close_ int lockfd = -1, socklock = -1, sfd = -1;
	volatile int stop = 0;
	sigset_t mask;
	bool svc_up = false;
	int c, r, rc = 1;

	/* Resolve every symbol at load (LD_BIND_NOW), before snap_trim_memory() gives back the
	 * loader's pages: lazy binding would read the symbol tables of gRPC and its libraries
	 * again at each first call of a function, and map them back in.  Once, by re-executing
	 * ourselves; the drivers we start do not inherit it. */
	if (!getenv("BERTH_SNAPSHOTTER_BOUND")) {
		setenv("LD_BIND_NOW", "1", 1);
		setenv("BERTH_SNAPSHOTTER_BOUND", "1", 1);
		execv("/proc/self/exe", argv);
		/* no /proc: run lazily bound */
	}
	unsetenv("LD_BIND_NOW");
	unsetenv("BERTH_SNAPSHOTTER_BOUND");

	while ((c = getopt_long(argc, argv, "a:c:r:s:l:w:Kh", lo, NULL)) != -1) {
		switch (c) {
		case 'a':
			set_str(&o.address, optarg);
			break;
		case 'c':
			set_str(&o.config, optarg);
			break;
		case 'r':
			set_str(&o.root, optarg);
			break;
		case 's':
			set_str(&o.storage_config, optarg);
			break;
		case 'l':
			set_str(&o.log_level, optarg);
			break;
		case 'w':
			o.workers = strtol(optarg, NULL, 10);
			if (o.workers < 1 || o.workers > 1024) {
				fprintf(stderr, "berth-snapshotter: --workers: 1 to 1024\n");
				return 2;
			}
			break;
		case 'K':
			o.keep_caps = true;
			break;
		case 'V':
			printf("berth-snapshotter %s (storage protocol %s)\n", BERTH_VERSION,
			       BERTH_STOR_PROTOCOL_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	if (o.log_level)
		setenv("BERTH_LOG_LEVEL", o.log_level, 1);
	berth_log_init("berth-snapshotter");
	r = load_config(&o, o.config ? o.config : DEFAULT_CONFIG, o.config != NULL, &err);
	if (r < 0)
		return fail(&err);
	if (o.log_level) {
		setenv("BERTH_LOG_LEVEL", o.log_level, 1); /* drivers log at the same level */
		berth_log_init("berth-snapshotter");
	}
	if (!o.address && set_str(&o.address, DEFAULT_ADDRESS) < 0)
		return 1;
	if (o.workers <= 0)
		o.workers = 8;
	if (o.drain < 0)
		o.drain = 30;
	if (check_address(&o.address, &err) < 0)
		return fail(&err);
	if (geteuid() != 0)
		berth_log_warn("not running as root: the storage drivers need root");

	/* Several threads, each forking drivers: keep malloc from growing an arena per thread. */
	mallopt(M_ARENA_MAX, 2);
	signal(SIGPIPE, SIG_IGN);

	r = berth_stor_config_load(o.storage_config, &scfg, &err);
	if (r < 0)
		return fail(&err);
	if (!o.root && asprintf(&o.root, "%s/containerd", scfg->root) < 0)
		return 1;
	if (!o.run_root && asprintf(&o.run_root, "%s/containerd", scfg->run_root) < 0)
		return 1;
	if (o.root[0] != '/' || o.run_root[0] != '/') {
		berth_error_set(&err, BERTH_ERR_INVALID_CONFIG, EINVAL,
				"root and runRoot must be absolute paths");
		return fail(&err);
	}
	if ((r = berth_mkdir_p(o.root, 0700, &err)) < 0 ||
	    (r = berth_mkdir_p(o.run_root, 0700, &err)) < 0)
		return fail(&err);
	if (asprintf(&rootlock, "%s/.lock", o.root) < 0)
		return 1;
	lockfd = open(rootlock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (lockfd < 0 || flock(lockfd, LOCK_EX | LOCK_NB) < 0) {
		berth_error_errno(&err, BERTH_ERR_IO,
				  "%s: another berth-snapshotter uses this root", rootlock);
		return fail(&err);
	}
	if (asprintf(&sticky, "%s/driver", o.root) < 0 ||
	    asprintf(&db, "%s/metadata.db", o.root) < 0)
		return 1;
	r = berth_stor_select(scfg, o.root, o.run_root, sticky, &sel, &err);
	if (r < 0)
		goto out;
	berth_log_info("storage driver %s (%s), layers under %s/%s", sel.driver,
		       sel.reason ? sel.reason : "", o.root, sel.driver);
	r = snap_meta_open(db, &meta, &err);
	if (r < 0)
		goto out;
	r = snap_svc_init(&svc, meta, sel.client, sel.driver, &err);
	if (r < 0)
		goto out;
	svc_up = true;
	r = snap_svc_recover(&svc, &err);
	if (r < 0)
		goto out;
	r = socket_dir(o.address, &socklock, &err);
	if (r < 0)
		goto out;
	if (!o.keep_caps && geteuid() == 0) {
		r = drop_capabilities(&err);
		if (r < 0)
			goto out;
	}
	/* a driver process for CREATE (Prepare, View) started ahead, with the capabilities left:
	 * a container start does not wait for the driver's exec */
	r = berth_stor_client_keep_spare(sel.client, "CREATE", &err);
	if (r < 0)
		goto out;

	/* signals arrive on a signalfd read by the main thread; every thread blocks them */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sfd < 0) {
		berth_error_errno(&err, BERTH_ERR_IO, "signalfd");
		goto out;
	}
	{
		struct snap_server_opts so = { .address = o.address,
					       .workers = (unsigned)o.workers,
					       .drain_seconds = (unsigned)o.drain };
		r = snap_server_run(&svc, &so, &stop, sfd, &err);
		if (r < 0)
			goto out;
	}
	/* Nothing of ours stays mounted: the driver's CLEANUP undoes what INIT set up (overlay:
	 * the private bind of its root, detached).  Not while the driver keeps devices active for
	 * mounts containerd may still hold (devicemapper): those stay for the next start. */
	if (snap_meta_count_activated(meta) == 0) {
		berth_error e = { 0 };
		if (berth_stor_client_call(sel.client, "CLEANUP", NULL, -1, NULL, &e) < 0)
			berth_log_warn("cleanup at exit: %s", e.msg);
	}
	berth_log_info("stopped");
	rc = 0;
out:
	if (rc != 0)
		fail(&err);
	if (svc_up)
		snap_svc_fini(&svc);
	snap_meta_close(meta);
	berth_stor_selection_clear(&sel);
	berth_stor_config_free(scfg);
	free(o.address);
	free(o.config);
	free(o.root);
	free(o.run_root);
	free(o.storage_config);
	free(o.log_level);
	return rc;
}
