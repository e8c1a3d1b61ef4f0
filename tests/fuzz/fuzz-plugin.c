/* SPDX-License-Identifier: Apache-2.0 */
/* The plugin skeleton end to end, in process: stdin config (with prevResult, runtimeConfig,
 * args, cni.dev/valid-attachments) for each verb, through berth_plugin_main() to a plugin that
 * reads every channel a real plugin reads.  The first input byte picks the verb
 * (A-F). */
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "berth/cleanup.h"
#include "berth/cni.h"
#include "berth/cniargs.h"
#include "berth/cni-skel.h"

static int read_channels(const struct berth_cni_call *call, berth_error *err)
{
	static const char *const known[] = {"IP", "MAC", NULL};
	char *values[2] = {NULL, NULL};
	struct berth_cni_req_ip *ips = NULL;
	size_t n = 0;
	uint8_t mac[6];
	int r;

	if ((r = berth_cni_args_parse(call->args, known, values, err)) < 0)
		return r;
	r = berth_cni_requested_ips(call->config, values[0], BERTH_CNI_IPS_MERGE, &ips, &n, err);
	free(ips);
	if (r >= 0)
		r = berth_cni_requested_mac(call->config, values[1], mac, err);
	free(values[0]);
	free(values[1]);
	return r < 0 ? r : 0;
}

static int fake_add(const struct berth_cni_call *call, struct berth_cni_result **ret,
		    berth_error *err)
{
	struct berth_cni_result *res;
	struct berth_ipnet n;
	int r = read_channels(call, err);

	if (r < 0)
		return r;
	res = call->prev_result ? berth_cni_result_copy(call->prev_result)
				: berth_cni_result_new(call->version);
	if (!res)
		return berth_error_set(err, BERTH_CNI_ERR_INTERNAL, ENOMEM, "out of memory");
	berth_ipnet_parse("10.1.2.3/24", &n);
	berth_cni_result_add_ip(res, &n, NULL,
				berth_cni_result_add_interface(res, call->ifname, NULL, call->netns));
	*ret = res;
	return 0;
}

static int fake_other(const struct berth_cni_call *call, struct berth_cni_result **ret,
		      berth_error *err)
{
	struct berth_cni_attachment *a = NULL;
	size_t n = 0;
	bool present;
	int r = read_channels(call, err);

	if (r < 0)
		return r;
	r = berth_cni_valid_attachments(call->config, &a, &n, &present, err);
	if (r >= 0) {
		(void)berth_cni_attachment_valid(a, n, "fuzz", "eth0");
		berth_cni_attachments_free(a, n);
	}
	return r < 0 ? r : 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	int fd = open("/dev/null", O_WRONLY | O_CLOEXEC), ns;
	char path[64];

	if (!getenv("FUZZ_SHOW_OUTPUT"))
		dup2(fd, STDOUT_FILENO); /* the protocol output */
	close(fd);
	setenv("CNI_CONTAINERID", "fuzz", 1);
	/* The skeleton refuses the plugin's own netns: move to a fresh one and hand it the old. */
	ns = open("/proc/self/ns/net", O_RDONLY);
	if (ns < 0 || (unshare(CLONE_NEWNET) < 0 && unshare(CLONE_NEWUSER | CLONE_NEWNET) < 0)) {
		perror("fuzz-plugin: cannot make a netns");
		abort();
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", ns);
	setenv("CNI_NETNS", path, 1);
	setenv("CNI_IFNAME", "eth0", 1);
	setenv("CNI_PATH", "/nonexistent", 1);
	setenv("CNI_ARGS", "IgnoreUnknown=1;K8S_POD_NAME=p;IP=10.1.2.4;MAC=02:00:00:00:00:01", 1);
	setenv("BERTH_LOG_LEVEL", "error", 1);
	return 0;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	static const char *const verbs[] = {"ADD", "DEL", "CHECK", "GC", "STATUS", "VERSION"};
	static const struct berth_cni_plugin plugin = {
		.name = "fuzz",
		.add = fake_add,
		.del = fake_other,
		.check = fake_other,
		.gc = fake_other,
		.status = fake_other,
	};
	char *argv[] = {(char *)"fuzz", NULL};
	int p[2], saved;

	if (size < 1 || size > 60000 || pipe(p) < 0)
		return 0;
	/* 'A' ADD, 'B' DEL, 'C' CHECK, 'D' GC, 'E' STATUS, 'F' VERSION */
	setenv("CNI_COMMAND", verbs[(unsigned char)(data[0] - 'A') % 6], 1);
	if (write(p[1], data + 1, size - 1) != (ssize_t)(size - 1))
		abort();
	close(p[1]);
	saved = dup(STDIN_FILENO);
	dup2(p[0], STDIN_FILENO);
	close(p[0]);
	(void)berth_plugin_main(&plugin, 1, argv);
	dup2(saved, STDIN_FILENO);
	close(saved);
	return 0;
}
