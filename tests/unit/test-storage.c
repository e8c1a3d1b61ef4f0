/* SPDX-License-Identifier: Apache-2.0 */
/* Storage protocol helpers, the core's SHA-256 and storage config parsing (no root needed). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "berth/cleanup.h"
#include "berth/cni.h"
#include "berth/storage-client.h"
#include "berth/storage-skel.h"
#include "berth/store.h"
#include "../../core/store/store-internal.h"
#include "tap.h"

static void sha(const char *in, size_t repeat, const char *want)
{
	struct berth_sha256 s;
	char hex[65];

	berth_sha256_init(&s);
	for (size_t i = 0; i < repeat; i++)
		berth_sha256_update(&s, in, strlen(in));
	berth_sha256_hex(&s, hex);
	is_str(hex, want, "sha256 of \"%.20s\" x%zu", in, repeat);
}

static int load_cfg(const char *json, struct berth_stor_config **ret, berth_error *err)
{
	char path[] = "/tmp/berth-test-storage-XXXXXX";
	int fd = mkstemp(path), r;

	if (fd < 0 || write(fd, json, strlen(json)) != (ssize_t)strlen(json))
		return -EIO;
	close(fd);
	r = berth_stor_config_load(path, ret, err);
	unlink(path);
	return r;
}

int main(void)
{
	struct berth_stor_config *c = NULL;
	berth_error err = { 0 };

	ok(berth_stor_id_valid("abc"), "plain id");
	ok(berth_stor_id_valid("ctr-1.2_x"), "id with - . _");
	ok(!berth_stor_id_valid(""), "empty id refused");
	ok(!berth_stor_id_valid("-x"), "leading - refused");
	ok(!berth_stor_id_valid("../x"), ".. refused");
	ok(!berth_stor_id_valid("a/b"), "/ refused");
	ok(!berth_stor_id_valid("a:b"), ": refused (overlay mount data)");
	char longid[200];
	memset(longid, 'a', 129);
	longid[129] = '\0';
	ok(!berth_stor_id_valid(longid), "129 chars refused");
	longid[128] = '\0';
	ok(berth_stor_id_valid(longid), "128 chars fine");

	is_int(berth_stor_errno_code(ENOSPC), BERTH_STOR_ERR_NO_SPACE, "ENOSPC -> 14");
	is_int(berth_stor_errno_code(EDQUOT), BERTH_STOR_ERR_NO_SPACE, "EDQUOT -> 14");
	is_int(berth_stor_errno_code(EBUSY), BERTH_STOR_ERR_BUSY, "EBUSY -> 10");
	is_int(berth_stor_errno_code(EIO), BERTH_CNI_ERR_IO, "EIO -> 5");
	for (int code = 1; code <= 15; code++)
		if (code != 8 && code != 9 && code != 10 && code != 12 && code != 14)
			continue;
		else
			is_int(berth_stor_errno_code(-berth_stor_code_errno(code)), code,
			       "code %d round-trips through errno", code);

	sha("", 1, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	sha("abc", 1, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	sha("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 1,
	    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	sha("a", 1000000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");

	ok(load_cfg("{}", &c, &err) == 0 && STREQ(c->driver, "auto") &&
		   STREQ(c->root, BERTH_STORE_DEFAULT_ROOT),
	   "empty config: auto, default root");
	berth_stor_config_free(c);
	c = NULL;
	ok(load_cfg("{\"driver\":\"overlay\",\"root\":\"/x\",\"options\":{\"overlay\":{}}}", &c,
		    &err) == 0 &&
		   STREQ(c->driver, "overlay") && STREQ(c->root, "/x"),
	   "driver and root");
	berth_stor_config_free(c);
	c = NULL;
	berth_error_clear(&err);
	ok(load_cfg("{\"drvier\":\"overlay\"}", &c, &err) < 0 && err.code == 2 &&
		   strstr(err.msg, "drvier"),
	   "misspelt key is code 2 naming it");
	berth_error_clear(&err);
	ok(load_cfg("{\"root\":\"relative\"}", &c, &err) < 0 && err.code == 7,
	   "relative root is code 7");
	berth_error_clear(&err);
	ok(load_cfg("{\"root\": [", &c, &err) < 0 && err.code == 6, "bad JSON is code 6");
	return done_testing();
}
