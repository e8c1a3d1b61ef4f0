// SPDX-License-Identifier: Apache-2.0
/*
 * A small client of the Kubernetes CRI runtime service (runtime.v1, gRPC), the way kubelet
 * drives a pod sandbox, so that the e2e test reaches CNI through containerd's CRI plugin with
 * no kubelet and no crictl (Debian packages neither):
 *
 *   cri-client SOCKET version
 *   cri-client SOCKET run NAME UID NAMESPACE [-p HOSTPORT:PORT[/tcp|/udp]]... [-a K=V]...
 *                                  RunPodSandbox; prints {"id": ...}
 *   cri-client SOCKET status ID    PodSandboxStatus (verbose); prints {"state", "ip",
 *                                  "additional_ips", "info": {key: JSON value}}
 *   cri-client SOCKET stop ID | remove ID
 *
 * Prints one JSON object, or {"code":N,"message":"..."} on an error; exits with the gRPC status
 * code (0 = OK).  CRI_CLIENT_TIMEOUT: seconds (default 120).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cri-runtime.pb-c.h"
#include "grpc-call.h"

#define SVC "/runtime.v1.RuntimeService/"
#define MAX_ITEMS 64

static int usage(void)
{
	fputs("usage: cri-client SOCKET version | run NAME UID NAMESPACE [-p HOSTPORT:PORT[/PROTO]]... "
	      "[-a K=V]... | status ID | stop ID | remove ID\n",
	      stderr);
	return 2;
}

/* call METHOD REQUEST: one unary call; the response's bytes in *resp (unref it), or an error
 * object printed and the status code returned. */
static int call(const char *method, const ProtobufCMessage *req, grpc_slice *resp)
{
	char path[128];
	size_t len = protobuf_c_message_get_packed_size(req);
	uint8_t *buf = malloc(len ? len : 1);
	struct reply r;
	int code;

	if (!buf)
		return 8;
	protobuf_c_message_pack(req, buf);
	snprintf(path, sizeof(path), SVC "%s", method);
	rpc(path, buf, len, &r);
	free(buf);
	code = (int)r.code;
	if (code != 0 || r.n != 1) {
		json_t *o = json_pack("{s:i,s:s}", "code", code ? code : 13, "message",
				      code ? r.message : "no response message");
		json_dumpf(o, stdout, JSON_COMPACT);
		putchar('\n');
		json_decref(o);
		reply_free(&r);
		return code ? code : 13;
	}
	*resp = grpc_slice_ref(r.msgs[0]);
	reply_free(&r);
	return 0;
}

static int print(json_t *o)
{
	json_dumpf(o, stdout, JSON_COMPACT);
	putchar('\n');
	json_decref(o);
	return 0;
}

static int cmd_version(void)
{
	Runtime__V1__VersionRequest req = RUNTIME__V1__VERSION_REQUEST__INIT;
	Runtime__V1__VersionResponse *v;
	grpc_slice s;
	int rc;

	req.version = (char *)"v1";
	if ((rc = call("Version", &req.base, &s)))
		return rc;
	v = runtime__v1__version_response__unpack(NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
	grpc_slice_unref(s);
	if (!v)
		return 13;
	rc = print(json_pack("{s:s,s:s,s:s,s:s}", "version", v->version, "runtime_name",
			     v->runtime_name, "runtime_version", v->runtime_version,
			     "runtime_api_version", v->runtime_api_version));
	runtime__v1__version_response__free_unpacked(v, NULL);
	return rc;
}

static int cmd_run(int argc, char **argv)
{
	Runtime__V1__PodSandboxMetadata md = RUNTIME__V1__POD_SANDBOX_METADATA__INIT;
	Runtime__V1__LinuxPodSandboxConfig linux_cfg = RUNTIME__V1__LINUX_POD_SANDBOX_CONFIG__INIT;
	Runtime__V1__PodSandboxConfig cfg = RUNTIME__V1__POD_SANDBOX_CONFIG__INIT;
	Runtime__V1__RunPodSandboxRequest req = RUNTIME__V1__RUN_POD_SANDBOX_REQUEST__INIT;
	Runtime__V1__PortMapping pm[MAX_ITEMS], *pmp[MAX_ITEMS];
	Runtime__V1__PodSandboxConfig__AnnotationsEntry an[MAX_ITEMS], *anp[MAX_ITEMS];
	Runtime__V1__RunPodSandboxResponse *resp;
	size_t npm = 0, nan = 0;
	grpc_slice s;
	int rc;

	if (argc < 3)
		return usage();
	md.name = argv[0];
	md.uid = argv[1];
	md.namespace_ = argv[2];
	for (int i = 3; i < argc; i++) {
		if (!strcmp(argv[i], "-p") && i + 1 < argc && npm < MAX_ITEMS) {
			char proto[8] = "tcp";
			int hp, cp;
			Runtime__V1__PortMapping m = RUNTIME__V1__PORT_MAPPING__INIT;
			if (sscanf(argv[++i], "%d:%d/%7s", &hp, &cp, proto) < 2)
				return usage();
			m.host_port = hp;
			m.container_port = cp;
			m.protocol = !strcmp(proto, "udp") ? RUNTIME__V1__PROTOCOL__UDP :
							     RUNTIME__V1__PROTOCOL__TCP;
			pm[npm] = m;
			pmp[npm] = &pm[npm];
			npm++;
		} else if (!strcmp(argv[i], "-a") && i + 1 < argc && nan < MAX_ITEMS) {
			Runtime__V1__PodSandboxConfig__AnnotationsEntry e =
				RUNTIME__V1__POD_SANDBOX_CONFIG__ANNOTATIONS_ENTRY__INIT;
			char *eq = strchr(argv[++i], '=');
			if (!eq)
				return usage();
			*eq = '\0';
			e.key = argv[i];
			e.value = eq + 1;
			an[nan] = e;
			anp[nan] = &an[nan];
			nan++;
		} else {
			return usage();
		}
	}
	cfg.metadata = &md;
	cfg.hostname = argv[0];
	cfg.n_port_mappings = npm;
	cfg.port_mappings = pmp;
	cfg.n_annotations = nan;
	cfg.annotations = anp;
	cfg.linux_config = &linux_cfg;
	req.config = &cfg;
	if ((rc = call("RunPodSandbox", &req.base, &s)))
		return rc;
	resp = runtime__v1__run_pod_sandbox_response__unpack(NULL, GRPC_SLICE_LENGTH(s),
							     GRPC_SLICE_START_PTR(s));
	grpc_slice_unref(s);
	if (!resp)
		return 13;
	rc = print(json_pack("{s:s}", "id", resp->pod_sandbox_id));
	runtime__v1__run_pod_sandbox_response__free_unpacked(resp, NULL);
	return rc;
}

static int cmd_status(const char *id)
{
	Runtime__V1__PodSandboxStatusRequest req = RUNTIME__V1__POD_SANDBOX_STATUS_REQUEST__INIT;
	Runtime__V1__PodSandboxStatusResponse *r;
	json_t *o, *info, *extra;
	grpc_slice s;
	int rc;

	req.pod_sandbox_id = (char *)id;
	req.verbose = 1;
	if ((rc = call("PodSandboxStatus", &req.base, &s)))
		return rc;
	r = runtime__v1__pod_sandbox_status_response__unpack(NULL, GRPC_SLICE_LENGTH(s),
							     GRPC_SLICE_START_PTR(s));
	grpc_slice_unref(s);
	if (!r || !r->status)
		return 13;
	info = json_object();
	for (size_t i = 0; i < r->n_info; i++) {
		/* containerd puts JSON documents in the info map ("info": the sandbox's spec,
		 * its netns path, the CNI result) */
		json_t *v = json_loads(r->info[i]->value, JSON_DECODE_ANY, NULL);
		json_object_set_new(info, r->info[i]->key, v ? v : json_string(r->info[i]->value));
	}
	extra = json_array();
	if (r->status->network)
		for (size_t i = 0; i < r->status->network->n_additional_ips; i++)
			json_array_append_new(extra, json_string(r->status->network->additional_ips[i]->ip));
	o = json_pack("{s:s,s:s,s:s,s:o,s:o}", "id", r->status->id, "state",
		      r->status->state == RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY ? "ready" :
											  "notready",
		      "ip", r->status->network ? r->status->network->ip : "", "additional_ips", extra,
		      "info", info);
	runtime__v1__pod_sandbox_status_response__free_unpacked(r, NULL);
	return print(o);
}

static int cmd_stop_remove(const char *verb, const char *id)
{
	Runtime__V1__StopPodSandboxRequest st = RUNTIME__V1__STOP_POD_SANDBOX_REQUEST__INIT;
	Runtime__V1__RemovePodSandboxRequest rm = RUNTIME__V1__REMOVE_POD_SANDBOX_REQUEST__INIT;
	grpc_slice s;
	int rc;

	st.pod_sandbox_id = rm.pod_sandbox_id = (char *)id;
	rc = !strcmp(verb, "stop") ? call("StopPodSandbox", &st.base, &s) :
				     call("RemovePodSandbox", &rm.base, &s);
	if (rc)
		return rc;
	grpc_slice_unref(s);
	return print(json_pack("{s:i}", "code", 0));
}

int main(int argc, char **argv)
{
	const char *tmo = getenv("CRI_CLIENT_TIMEOUT");

	if (argc < 3)
		return usage();
	if (tmo)
		timeout_s = atoi(tmo);
	grpc_connect(argv[1]);
	if (!strcmp(argv[2], "version"))
		return cmd_version();
	if (!strcmp(argv[2], "run"))
		return cmd_run(argc - 3, argv + 3);
	if (argc == 4 && !strcmp(argv[2], "status"))
		return cmd_status(argv[3]);
	if (argc == 4 && (!strcmp(argv[2], "stop") || !strcmp(argv[2], "remove")))
		return cmd_stop_remove(argv[2], argv[3]);
	return usage();
}
