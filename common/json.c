// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <math.h>
#include <string.h>
#include <strings.h>

#include "berth/cleanup.h"
#include "berth/file.h"
#include "berth/json.h"

#define JSON_MAX_FILE (16u << 20)

int berth_json_parse(const char *buf, size_t len, json_t **ret, berth_error *err)
{
	json_error_t jerr;
	json_t *j;

	j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!j)
		return berth_error_set(err, BERTH_ERR_DECODE, EINVAL,
				       "invalid JSON at line %d, column %d: %s", jerr.line,
				       jerr.column, jerr.text);
	*ret = j;
	return 0;
}

int berth_json_load_file(const char *path, json_t **ret, berth_error *err)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	int r;

	r = berth_read_file(path, JSON_MAX_FILE, &buf, &len, err);
	if (r < 0)
		return r;
	r = berth_json_parse(buf, len, ret, err);
	if (r < 0)
		return berth_error_prefix(err, "%s", path);
	return 0;
}

char *berth_json_dump(const json_t *j)
{
	return json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
}

char *berth_json_dump_pretty(const json_t *j)
{
	return json_dumps(j, JSON_INDENT(4) | JSON_PRESERVE_ORDER);
}

static int bad_type(berth_error *err, const char *what, const char *key, const char *type)
{
	return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EINVAL, "%s%s%s must be %s",
			       what ? what : "", what ? "." : "", key, type);
}

static int missing(berth_error *err, const char *what, const char *key)
{
	return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, EINVAL, "%s%s%s is required",
			       what ? what : "", what ? "." : "", key);
}

json_t *berth_json_object_get_ci(json_t *obj, const char *key)
{
	const char *k;
	json_t *v;

	if (!obj || !json_is_object(obj))
		return NULL;
	if ((v = json_object_get(obj, key)))
		return v;
	json_object_foreach(obj, k, v)
		if (strcasecmp(k, key) == 0)
			return v;
	return NULL;
}

/* Look key up; 1 = found (in *ret), 0 = absent and optional, <0 error. JSON null counts as
 * absent, as Go's decoder treats it, and so does a key that differs only in case (the
 * reference plugins decode with encoding/json: containerd 1.6's go-cni sends capability args
 * such as portMappings as {"HostPort":..., "ContainerPort":...}). */
static int lookup(json_t *obj, const char *what, const char *key, bool required, json_t **ret,
		  berth_error *err)
{
	json_t *v = berth_json_object_get_ci(obj, key);

	if (!v || json_is_null(v)) {
		if (required)
			return missing(err, what, key);
		return 0;
	}
	*ret = v;
	return 1;
}

int berth_json_get_object(json_t *obj, const char *what, const char *key, bool required,
			  json_t **ret, berth_error *err)
{
	json_t *v = NULL;
	int r = lookup(obj, what, key, required, &v, err);

	if (r <= 0)
		return r;
	if (!json_is_object(v))
		return bad_type(err, what, key, "an object");
	*ret = v;
	return 0;
}

int berth_json_get_array(json_t *obj, const char *what, const char *key, bool required,
			 json_t **ret, berth_error *err)
{
	json_t *v = NULL;
	int r = lookup(obj, what, key, required, &v, err);

	if (r <= 0)
		return r;
	if (!json_is_array(v))
		return bad_type(err, what, key, "an array");
	*ret = v;
	return 0;
}

int berth_json_get_string(json_t *obj, const char *what, const char *key, bool required,
			  const char **ret, berth_error *err)
{
	json_t *v = NULL;
	int r = lookup(obj, what, key, required, &v, err);

	if (r <= 0)
		return r;
	if (!json_is_string(v))
		return bad_type(err, what, key, "a string");
	*ret = json_string_value(v);
	return 0;
}

int berth_json_get_bool(json_t *obj, const char *what, const char *key, bool required, bool *ret,
			berth_error *err)
{
	json_t *v = NULL;
	int r = lookup(obj, what, key, required, &v, err);

	if (r <= 0)
		return r;
	if (json_is_boolean(v)) {
		*ret = json_is_true(v);
		return 0;
	}
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		if (strcmp(s, "true") == 0) {
			*ret = true;
			return 0;
		}
		if (strcmp(s, "false") == 0) {
			*ret = false;
			return 0;
		}
	}
	return bad_type(err, what, key, "a boolean");
}

int berth_json_get_int(json_t *obj, const char *what, const char *key, bool required,
		       int64_t min, int64_t max, int64_t *ret, berth_error *err)
{
	json_t *v = NULL;
	int64_t n;
	int r = lookup(obj, what, key, required, &v, err);

	if (r <= 0)
		return r;
	if (json_is_integer(v)) {
		n = json_integer_value(v);
	} else if (json_is_real(v)) {
		double d = json_real_value(v);
		if (d != floor(d) || d < (double)INT64_MIN || d > (double)INT64_MAX)
			return bad_type(err, what, key, "an integer");
		n = (int64_t)d;
	} else {
		return bad_type(err, what, key, "an integer");
	}
	if (n < min || n > max)
		return berth_error_set(err, BERTH_ERR_INVALID_CONFIG, ERANGE,
				       "%s%s%s=%lld is out of range [%lld, %lld]", what ? what : "",
				       what ? "." : "", key, (long long)n, (long long)min,
				       (long long)max);
	*ret = n;
	return 0;
}

int berth_json_set_str_nonempty(json_t *obj, const char *key, const char *value)
{
	if (!value || !*value)
		return 0;
	return json_object_set_new(obj, key, json_string(value)) < 0 ? -ENOMEM : 0;
}
