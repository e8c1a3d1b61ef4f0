// SPDX-License-Identifier: Apache-2.0
/*
 * CNI benchmark driver (bench/bridge-hostlocal.sh runs it).
 *
 *   berth-cni-bench -n N [-V RUNS] [-t TAG] [-4] [-k] -i LABEL,PLUGIN,CONFIG,CNI_PATH[,VAR=VALUE...]
 *                   [-i ...]
 *
 * Each VAR=VALUE after CNI_PATH is put into that implementation's environment (besides the CNI_*
 * variables), e.g. BERTH_LINK_SYNC_DEL=1 or BERTH_NO_BUILTIN_DELEGATE=1.
 * Creates N network namespaces per implementation (/run/netns/<TAG>-<label>-<i>), then for
 * each container i runs ADD of every implementation, the order alternating between containers
 * so that neither always runs first; then DEL the same way; then VERSION RUNS times each.
 * Each call is one fork+exec+wait4 timed with CLOCK_MONOTONIC; the peak RSS of a call is
 * wait4's ru_maxrss, which includes the plugin's reaped children (bridge's host-local).
 * Prints one line per implementation and verb with median, p95 and max RSS, then the ratio of
 * each implementation's medians to the last one's (the reference goes last).
 * Namespaces are removed on exit.  -4 turns IPv6 off in each container netns before its
 * interfaces exist (no link-local autoconfiguration traffic flooded over the bridge).
 *
 * -k adds the implementation "netlink": the netlink part of a veth bridge plugin's work, sent
 * from this process: no plugin, no exec, and none of IPAM, addresses, routes or sysctls.  ADD:
 * create the veth pair with the container end directly in the container netns, enslave the host
 * end to a bridge, set both ends up.  DEL: delete the container end, returning when the kernel
 * has unlisted the pair (berth_link_del_unlisted).  It is not a floor for a whole plugin call
 * (a plugin does more), only the part of the work every veth bridge plugin shares.
 *
 * A call that fails (exit status not 0, or a netlink error) stops the run with status 1: a
 * failed call is never a timed sample.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "berth/link.h"
#include "berth/netns.h"
#include "berth/nl.h"

#define MAX_IMPL 8
#define MAX_ENV 8

struct impl {
	char *label, *plugin, *config_path, *cni_path;
	char *config;
	size_t config_len;
	char *env[MAX_ENV + 1];
	double *t_add, *t_del, *t_ver;
	long rss_add, rss_del, rss_ver; /* KiB */
	int failures;
};

static struct impl impls[MAX_IMPL];
static int n_impl, n;
static const char *tag = "bb";
static int no_ipv6;
static int kernel_impl = -1; /* index of the "netlink" pseudo-implementation, -1 = none */
static struct berth_nl *host_nl;
static int kernel_bridge;

static void sysctl_write(const char *path, const char *v)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		(void)!write(fd, v, strlen(v));
		close(fd);
	}
}
static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = 1;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long sz;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	sz = ftell(f);
	rewind(f);
	buf = malloc((size_t)sz + 1);
	if (!buf || fread(buf, 1, (size_t)sz, f) != (size_t)sz) {
		fclose(f);
		free(buf);
		return NULL;
	}
	buf[sz] = '\0';
	fclose(f);
	*len = (size_t)sz;
	return buf;
}

static void netns_path(char *buf, size_t len, int k, int i)
{
	snprintf(buf, len, "/run/netns/%s-%s-%d", tag, impls[k].label, i);
}

/* Create a named netns the way ip-netns does: bind-mount a fresh one onto /run/netns/NAME. */
static int netns_create(const char *path)
{
	int self, fd, r = -1;

	fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	close(fd);
	self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self < 0)
		return -1;
	if (unshare(CLONE_NEWNET) == 0) {
		r = mount("/proc/thread-self/ns/net", path, "none", MS_BIND, NULL);
		if (no_ipv6) { /* /proc/sys/net is the opener's netns: the new one */
			sysctl_write("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
			sysctl_write("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
		}
		if (setns(self, CLONE_NEWNET) < 0)
			abort(); /* never run the rest of the bench inside a test namespace */
	}
	close(self);
	if (r < 0)
		unlink(path);
	return r;
}

static void netns_delete(const char *path)
{
	umount2(path, MNT_DETACH);
	unlink(path);
}

/* One plugin call; returns wall ms (negative on failure), *rss in KiB. */
static double run(struct impl *im, const char *cmd, const char *id, const char *netns,
		  long *rss)
{
	char e_cmd[64], e_id[160], e_ns[200], e_path[1024];
	char *envp[7 + MAX_ENV] = { e_cmd, e_id, e_ns, "CNI_IFNAME=eth0", e_path, "CNI_ARGS=" };
	char *argv[] = { im->plugin, NULL };
	int in[2], status;
	struct rusage ru;
	double t0, t1;
	pid_t pid;

	snprintf(e_cmd, sizeof(e_cmd), "CNI_COMMAND=%s", cmd);
	snprintf(e_id, sizeof(e_id), "CNI_CONTAINERID=%s", id);
	snprintf(e_ns, sizeof(e_ns), "CNI_NETNS=%s", netns);
	snprintf(e_path, sizeof(e_path), "CNI_PATH=%s", im->cni_path);
	for (int k = 0; im->env[k]; k++)
		envp[6 + k] = im->env[k];
	if (pipe2(in, O_CLOEXEC) < 0)
		return -1;
	t0 = now_ms();
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		signal(SIGPIPE, SIG_DFL);
		dup2(in[0], 0);
		dup2(null, 1);
		if (!getenv("BENCH_STDERR"))
			dup2(null, 2);
		execve(im->plugin, argv, envp);
		_exit(127);
	}
	close(in[0]);
	if (pid < 0) {
		close(in[1]);
		return -1;
	}
	/* Config < 64 KiB fits the pipe: the write never blocks on a plugin that did not read. */
	if (write(in[1], im->config, im->config_len) < 0) {
		/* the plugin exited early; its status tells */
	}
	close(in[1]);
	while (wait4(pid, &status, 0, &ru) < 0)
		if (errno != EINTR)
			return -1;
	t1 = now_ms();
	*rss = ru.ru_maxrss;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return -(t1 - t0) - 1e-9;
	return t1 - t0;
}

/* The netlink part of ADD or DEL for container i, in this process; wall ms, negative on error. */
static double run_kernel(const char *cmd, int i, const char *netns)
{
	struct berth_nl *cont = NULL;
	berth_error err = { 0 };
	struct berth_link host, c;
	char name[IFNAMSIZ];
	double t0, t1;
	int nsfd = -1, r;

	snprintf(name, sizeof(name), "kf%s%d", tag, i);
	if (berth_netns_open(netns, &nsfd, &err) < 0)
		return -1;
	t0 = now_ms();
	if (strcmp(cmd, "ADD") == 0) {
		struct berth_veth_opts o = { .name = name, .peer_name = "eth0", .peer_nsfd = nsfd,
					     .txqlen_zero = true };

		r = berth_link_add_veth(host_nl, &o, &err);
		if (r == 0)
			r = berth_link_get_by_name(host_nl, name, &host, &err);
		if (r == 0)
			r = berth_link_set_master(host_nl, host.ifindex, kernel_bridge, &err);
		if (r == 0)
			r = berth_link_set_up(host_nl, host.ifindex, true, &err);
		if (r == 0)
			r = berth_nl_open(nsfd, &cont, &err);
		if (r == 0)
			r = berth_link_get_by_name(cont, "eth0", &c, &err);
		if (r == 0)
			r = berth_link_set_up(cont, c.ifindex, true, &err);
	} else {
		r = berth_nl_open(nsfd, &cont, &err);
		if (r == 0)
			r = berth_link_get_by_name(cont, "eth0", &c, &err);
		if (r == 0)
			r = berth_link_del_unlisted(nsfd, c.ifindex, &err);
	}
	t1 = now_ms();
	berth_nl_close(cont);
	close(nsfd);
	if (r < 0) {
		fprintf(stderr, "netlink %s %d: %s\n", cmd, i, err.msg);
		return -(t1 - t0) - 1e-9;
	}
	return t1 - t0;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double pct(double *v, int cnt, double p)
{
	int k;

	if (cnt == 0)
		return 0;
	qsort(v, (size_t)cnt, sizeof(*v), cmp_d);
	k = (int)(p * (cnt - 1) + 0.5);
	return v[k];
}

static void usage(void)
{
	fprintf(stderr, "usage: berth-cni-bench -n N [-V RUNS] [-t TAG] [-4] [-k] "
			"-i LABEL,PLUGIN,CONFIG,CNI_PATH[,VAR=VALUE...] [-i ...]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int vruns = 200, opt, rc = 0;
	double med[MAX_IMPL][3];

	while ((opt = getopt(argc, argv, "n:V:t:i:4k")) != -1) {
		switch (opt) {
		case 'k':
			if (n_impl == MAX_IMPL)
				usage();
			kernel_impl = n_impl;
			impls[n_impl++].label = "netlink";
			break;
		case '4':
			no_ipv6 = 1;
			break;
		case 'n':
			n = atoi(optarg);
			break;
		case 'V':
			vruns = atoi(optarg);
			break;
		case 't':
			tag = optarg;
			break;
		case 'i': {
			struct impl *im;
			char *s = strdup(optarg);

			if (n_impl == MAX_IMPL)
				usage();
			im = &impls[n_impl++];
			im->label = strsep(&s, ",");
			im->plugin = strsep(&s, ",");
			im->config_path = strsep(&s, ",");
			im->cni_path = strsep(&s, ",");
			if (!im->plugin || !im->config_path || !im->cni_path)
				usage();
			for (int e = 0; s; e++) {
				if (e == MAX_ENV || !strchr(s, '='))
					usage();
				im->env[e] = strsep(&s, ",");
			}
			im->config = read_all(im->config_path, &im->config_len);
			if (!im->config) {
				fprintf(stderr, "cannot read %s\n", im->config_path);
				return 2;
			}
			break;
		}
		default:
			usage();
		}
	}
	if (n <= 0 || n_impl == 0 || kernel_impl == n_impl - 1)
		usage(); /* the last implementation is the reference the ratios divide by */
	if (kernel_impl >= 0) {
		berth_error err = { 0 };
		struct berth_bridge_opts bo = { .vlan_filtering = -1 };
		struct berth_link br;
		char brname[IFNAMSIZ];

		snprintf(brname, sizeof(brname), "kf%s", tag);
		bo.name = brname;
		if (berth_nl_open(-1, &host_nl, &err) < 0 || berth_link_add_bridge(host_nl, &bo, &err) < 0 ||
		    berth_link_get_by_name(host_nl, brname, &br, &err) < 0 ||
		    berth_link_set_up(host_nl, br.ifindex, true, &err) < 0) {
			fprintf(stderr, "netlink bridge %s: %s\n", brname, err.msg);
			return 1;
		}
		kernel_bridge = br.ifindex;
	}
	/* A plugin may exit without reading its stdin (VERSION): EPIPE, not death. */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	for (int k = 0; k < n_impl; k++) {
		impls[k].t_add = calloc((size_t)n, sizeof(double));
		impls[k].t_del = calloc((size_t)n, sizeof(double));
		impls[k].t_ver = calloc((size_t)vruns + 1, sizeof(double));
	}

	for (int i = 0; i < n && !stop; i++)
		for (int k = 0; k < n_impl; k++) {
			char p[256];

			netns_path(p, sizeof(p), k, i);
			if (netns_create(p) < 0) {
				fprintf(stderr, "cannot create netns %s: %m\n", p);
				stop = 1;
				rc = 1;
			}
		}

	/* ADD, then DEL, per container, alternating which implementation goes first. */
	for (int verb = 0; verb < 2 && !stop; verb++)
		for (int i = 0; i < n && !stop; i++)
			for (int j = 0; j < n_impl; j++) {
				int k = (i % 2) ? n_impl - 1 - j : j;
				struct impl *im = &impls[k];
				char id[80], p[256];
				long rss = 0;
				double t;

				/* 64 hex digits, like the IDs podman and containerd pass */
				snprintf(id, sizeof(id), "%016x%016x%016x%016x", 0xbe47u, k, i, 0x5eedu);
				netns_path(p, sizeof(p), k, i);
				if (k == kernel_impl)
					t = run_kernel(verb ? "DEL" : "ADD", i, p);
				else
					t = run(im, verb ? "DEL" : "ADD", id, p, &rss);
				if (t < 0) {
					im->failures++;
					fprintf(stderr, "%s %s %d failed: the run stops\n", im->label,
						verb ? "DEL" : "ADD", i);
					stop = 1;
					rc = 1;
					break;
				}
				if (verb) {
					im->t_del[i] = t;
					if (rss > im->rss_del)
						im->rss_del = rss;
				} else {
					im->t_add[i] = t;
					if (rss > im->rss_add)
						im->rss_add = rss;
				}
			}

	for (int r = 0; r < vruns && !stop; r++)
		for (int j = 0; j < n_impl; j++) {
			int k = (r % 2) ? n_impl - 1 - j : j;
			struct impl *im = &impls[k];
			char *save = im->config;
			size_t save_len = im->config_len;
			long rss = 0;
			double t;

			if (k == kernel_impl)
				continue;
			im->config = "{\"cniVersion\":\"1.0.0\"}";
			im->config_len = strlen(im->config);
			t = run(im, "VERSION", "dummy", "dummy", &rss);
			im->config = save;
			im->config_len = save_len;
			if (t < 0) {
				im->failures++;
				fprintf(stderr, "%s VERSION failed: the run stops\n", im->label);
				stop = 1;
				rc = 1;
				break;
			}
			im->t_ver[r] = t;
			if (rss > im->rss_ver)
				im->rss_ver = rss;
		}

	for (int i = 0; i < n; i++)
		for (int k = 0; k < n_impl; k++) {
			char p[256];

			netns_path(p, sizeof(p), k, i);
			netns_delete(p);
		}
	if (host_nl) {
		struct berth_link br;
		berth_error err = { 0 };

		if (berth_link_get_by_index(host_nl, kernel_bridge, &br, &err) == 0)
			(void)berth_link_del(host_nl, kernel_bridge, &err);
		berth_nl_close(host_nl);
	}
	if (stop)
		return rc ? rc : 130;

	printf("%-8s %-7s %5s %10s %10s %10s %12s\n", "impl", "verb", "N", "median_ms", "p95_ms",
	       "max_ms", "max_rss_kib");
	for (int k = 0; k < n_impl; k++) {
		struct impl *im = &impls[k];
		struct {
			const char *verb;
			double *v;
			int cnt;
			long rss;
		} rows[] = {
			{ "ADD", im->t_add, n, im->rss_add },
			{ "DEL", im->t_del, n, im->rss_del },
			{ "VERSION", im->t_ver, vruns, im->rss_ver },
		};

		for (int r = 0; r < (k == kernel_impl ? 2 : 3); r++) {
			med[k][r] = pct(rows[r].v, rows[r].cnt, 0.5);
			printf("%-8s %-7s %5d %10.3f %10.3f %10.3f %12ld\n", im->label, rows[r].verb,
			       rows[r].cnt, med[k][r], pct(rows[r].v, rows[r].cnt, 0.95),
			       pct(rows[r].v, rows[r].cnt, 1.0), rows[r].rss);
		}
		if (im->failures) {
			printf("%-8s FAILURES %d\n", im->label, im->failures);
			rc = 1;
		}
	}
	for (int k = 0; k + 1 < n_impl; k++) {
		struct impl *a = &impls[k], *b = &impls[n_impl - 1];

		if (k == kernel_impl) {
			printf("ratio netlink/%s N=%d: ADD median %.3f, DEL median %.3f\n", b->label, n,
			       med[k][0] / med[n_impl - 1][0], med[k][1] / med[n_impl - 1][1]);
			continue;
		}
		printf("ratio %s/%s N=%d: ADD median %.3f, DEL median %.3f, VERSION median %.3f, "
		       "peak RSS %.3f\n",
		       a->label, b->label, n, med[k][0] / med[n_impl - 1][0],
		       med[k][1] / med[n_impl - 1][1], med[k][2] / med[n_impl - 1][2],
		       (double)(a->rss_add > a->rss_del ? a->rss_add : a->rss_del) /
			       (double)(b->rss_add > b->rss_del ? b->rss_add : b->rss_del));
	}
	return rc;
}
