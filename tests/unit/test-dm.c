/* SPDX-License-Identifier: Apache-2.0 */
/* devicemapper driver: sizes, option parsing, thin-pool status and table parsing (no root, no
 * device-mapper needed; the kernel side is tested in the VM by 75-devicemapper-vm.sh). */
#include <errno.h>
#include <string.h>

#include "berth/cleanup.h"
#include "berth/dm.h"
#include "berth/json.h"
#include "tap.h"

static int parse_opts(const char *json, struct berth_dm_config *c, berth_error *err)
{
	json_t *j = json_loads(json, 0, NULL);
	int r = berth_dm_config_parse(j, c, err);

	json_decref(j);
	return r;
}

int main(void)
{
	struct berth_dm_config c;
	struct berth_dm_pool_status st;
	struct berth_dm_pool_table t;
	berth_error err = { 0 };
	uint64_t v = 0;

	/* sizes */
	is_int(berth_dm_parse_size("10G", &v), 0, "10G parses");
	is_int(v, 10ULL << 30, "10G = 10 GiB");
	berth_dm_parse_size("512m", &v);
	is_int(v, 512ULL << 20, "512m = 512 MiB");
	berth_dm_parse_size("64KiB", &v);
	is_int(v, 64 * 1024, "64KiB");
	berth_dm_parse_size("4096", &v);
	is_int(v, 4096, "plain bytes");
	berth_dm_parse_size("1GB", &v);
	is_int(v, 1ULL << 30, "1GB (binary)");
	ok(berth_dm_parse_size("12Q", &v) < 0, "12Q refused");
	ok(berth_dm_parse_size("", &v) < 0, "empty refused");
	ok(berth_dm_parse_size("-1G", &v) < 0, "negative refused");
	ok(berth_dm_parse_size("1Gx", &v) < 0, "trailing junk refused");
	ok(berth_dm_parse_size("99999999999T", &v) < 0, "overflow refused");

	/* options */
	is_int(parse_opts("{}", &c, &err), 0, "empty options parse");
	is_int(c.base_size, 10ULL << 30, "default base size 10G");
	is_int(c.min_free_space, 10, "default min_free_space 10%%");
	ok(c.require_udev_sync && c.deferred_removal && c.deferred_deletion && !c.allow_loopback,
	   "defaults: udev sync required, deferred removal/deletion on, no loopback");
	is_int(c.fs, BERTH_DM_FS_EXT4, "default fs ext4");
	berth_dm_config_free(&c);

	is_int(parse_opts("{\"base_size\":\"20G\",\"fs\":\"xfs\",\"block_size\":\"128K\","
			  "\"data_device\":\"/dev/sdb\",\"metadata_device\":\"/dev/sdc\"}",
			  &c, &err),
	       0, "full options parse");
	is_int(c.base_size, 20ULL << 30, "base_size 20G");
	is_int(c.fs, BERTH_DM_FS_XFS, "fs xfs");
	is_int(c.block_size, 128 * 1024, "block_size 128K");
	is_str(c.data_device, "/dev/sdb", "data_device");
	berth_dm_config_free(&c);

	berth_error_clear(&err);
	ok(parse_opts("{\"base_size\":\"12Q\"}", &c, &err) < 0 && err.code == 7 &&
		   strstr(err.msg, "options.base_size"),
	   "bad base_size: code 7 naming the key (%s)", err.msg);
	berth_error_clear(&err);
	ok(parse_opts("{\"base_size\":\"1M\"}", &c, &err) < 0 && err.code == 7,
	   "base_size below 32M refused");
	berth_error_clear(&err);
	ok(parse_opts("{\"block_size\":\"100K\"}", &c, &err) < 0 && err.code == 7 &&
		   strstr(err.msg, "block_size"),
	   "block_size not a multiple of 64K refused");
	berth_error_clear(&err);
	ok(parse_opts("{\"fs\":\"btrfs\"}", &c, &err) < 0 && err.code == 7, "fs btrfs refused");
	berth_error_clear(&err);
	ok(parse_opts("{\"data_device\":\"/dev/sdb\"}", &c, &err) < 0 && err.code == 7 &&
		   strstr(err.msg, "metadata_device"),
	   "data_device without metadata_device refused");
	berth_error_clear(&err);
	ok(parse_opts("{\"data_device\":\"/dev/sdb\",\"metadata_device\":\"/dev/sdb\"}", &c,
		      &err) < 0,
	   "same device for data and metadata refused");
	berth_error_clear(&err);
	ok(parse_opts("{\"data_device\":\"sdb\",\"metadata_device\":\"/dev/sdc\"}", &c, &err) < 0,
	   "relative device path refused");
	berth_error_clear(&err);
	ok(parse_opts("{\"pool_name\":\"a/b\"}", &c, &err) < 0 && strstr(err.msg, "pool_name"),
	   "pool_name with / refused");
	berth_error_clear(&err);
	ok(parse_opts("{\"min_free_space\":100}", &c, &err) < 0, "min_free_space 100 refused");
	berth_error_clear(&err);
	ok(parse_opts("{\"allow_loopback\":\"yes\"}", &c, &err) < 0, "non-boolean refused");

	/* thin-pool status lines as the kernel prints them */
	is_int(berth_dm_pool_status_parse("0 4114/65536 527/4096 - rw no_discard_passdown "
					  "queue_if_no_space - 1024 ",
					  &st),
	       0, "pool status parses");
	ok(st.meta_used == 4114 && st.meta_total == 65536 && st.data_used == 527 &&
		   st.data_total == 4096 && !st.read_only && !st.out_of_space && !st.needs_check,
	   "pool status fields");
	is_int(berth_dm_pool_status_parse("7 10/100 4096/4096 - out_of_data_space "
					  "discard_passdown error_if_no_space - 10",
					  &st),
	       0, "full pool parses");
	ok(st.out_of_space && st.transaction_id == 7, "out_of_data_space detected");
	berth_dm_pool_status_parse("1 10/100 5/10 - ro discard_passdown queue_if_no_space "
				   "needs_check 10",
				   &st);
	ok(st.read_only && st.needs_check, "ro + needs_check detected");
	is_int(berth_dm_pool_status_parse("Fail", &st), 0, "Fail parses");
	ok(st.failed, "failed pool detected");
	ok(berth_dm_pool_status_parse("garbage", &st) < 0, "garbage refused");

	is_int(berth_dm_pool_table_parse("7:1 7:0 128 32768 1 skip_block_zeroing", &t), 0,
	       "pool table parses");
	ok(STREQ(t.metadata_dev, "7:1") && STREQ(t.data_dev, "7:0") && t.block_sectors == 128 &&
		   t.low_water == 32768,
	   "pool table fields");
	ok(berth_dm_pool_table_parse("7:1 7:0", &t) < 0, "short table refused");

	return done_testing();
}
