/* SPDX-License-Identifier: Apache-2.0 */
/*
 * containerd's filter language (github.com/containerd/containerd/filters), for List:
 *
 *   selectors := selector ("," selector)*      all must match
 *   selector  := fieldpath (operator value)?   no operator: the field is present
 *   fieldpath := field ("." field)*
 *   field     := quoted | [A-Za-z0-9_]+
 *   operator  := "==" | "!=" | "~="
 *   value     := quoted | [^\s,]+
 *   quoted    := "..." with Go escapes; /.../ and |...| too after ~=
 *
 * Several filter strings: any may match.  The scanner and parser follow containerd's own, so
 * the same strings are accepted and refused; ~= uses POSIX extended regular expressions
 * (containerd: Go's RE2), and a regular expression that does not compile is InvalidArgument
 * (containerd: a selector that never matches).
 */
#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/cleanup.h"
#include "snapshotter.h"

enum { TOK_EOF = -1, TOK_QUOTED = -2, TOK_VALUE = -3, TOK_FIELD = -4, TOK_SEP = -5,
       TOK_OP = -6, TOK_ILLEGAL = -7 };
enum op { OP_PRESENT, OP_EQ, OP_NE, OP_MATCH };

struct selector {
	char **path;
	size_t n_path;
	enum op op;
	char *value;
	regex_t re;
	bool has_re;
};

struct conj {
	struct selector *sel;
	size_t n;
};

struct snap_filter {
	struct conj *any;
	size_t n;
};

struct scanner {
	const char *in;
	size_t len, pos, ppos;
	bool value;
	const char *err;
};

/* Decode one rune at ppos (input is valid UTF-8, checked when the request was decoded). */
static int next(struct scanner *s)
{
	const unsigned char *p;
	int r, w;

	if (s->ppos >= s->len) {
		s->pos = s->len;
		return TOK_EOF;
	}
	s->pos = s->ppos;
	p = (const unsigned char *)s->in + s->ppos;
	if (p[0] < 0x80)
		r = p[0], w = 1;
	else if ((p[0] & 0xe0) == 0xc0 && s->len - s->ppos >= 2)
		r = ((p[0] & 0x1f) << 6) | (p[1] & 0x3f), w = 2;
	else if ((p[0] & 0xf0) == 0xe0 && s->len - s->ppos >= 3)
		r = ((p[0] & 0x0f) << 12) | ((p[1] & 0x3f) << 6) | (p[2] & 0x3f), w = 3;
	else if ((p[0] & 0xf8) == 0xf0 && s->len - s->ppos >= 4)
		r = ((p[0] & 0x07) << 18) | ((p[1] & 0x3f) << 12) | ((p[2] & 0x3f) << 6) |
		    (p[3] & 0x3f),
		w = 4;
	else {
		s->ppos++;
		if (!s->err)
			s->err = "rune error";
		return TOK_ILLEGAL;
	}
	s->ppos += (size_t)w;
	if (r == 0) {
		if (!s->err)
			s->err = "unexpected null";
		return TOK_ILLEGAL;
	}
	return r;
}

static int peek(struct scanner *s)
{
	size_t pos = s->pos, ppos = s->ppos;
	int ch = next(s);

	s->pos = pos;
	s->ppos = ppos;
	return ch;
}

static bool is_space(int r)
{
	return r == ' ' || (r >= '\t' && r <= '\r') || r == 0x85 || r == 0xa0 || r == 0x1680 ||
	       (r >= 0x2000 && r <= 0x200a) || r == 0x2028 || r == 0x2029 || r == 0x202f ||
	       r == 0x205f || r == 0x3000;
}

static bool is_field_rune(int r)
{
	return r == '_' || (r >= 'A' && r <= 'Z') || (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9');
}

static bool is_value_rune(int r)
{
	/* Go: not ',' nor space, and a letter, digit, graphic or punctuation: every printable */
	return r > 0 && r != ',' && !is_space(r) && (r >= 0x20 || r < 0) && r != 0x7f;
}

static int digit_val(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return 16;
}

static int scan_digits(struct scanner *s, int ch, int base, int n, bool *legal)
{
	while (n > 0 && digit_val(ch) < base) {
		ch = next(s);
		n--;
	}
	if (n > 0) {
		if (!s->err)
			s->err = "illegal numeric escape sequence";
		*legal = false;
		return ch;
	}
	*legal = true;
	return ch;
}

static int scan_escape(struct scanner *s, int quote, bool *legal)
{
	int ch = next(s);

	*legal = false;
	switch (ch) {
	case 'a': case 'b': case 'f': case 'n': case 'r': case 't': case 'v': case '\\':
		*legal = true;
		return next(s);
	case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7':
		return scan_digits(s, ch, 8, 3, legal);
	case 'x':
		return scan_digits(s, next(s), 16, 2, legal);
	case 'u':
		return scan_digits(s, next(s), 16, 4, legal);
	case 'U':
		return scan_digits(s, next(s), 16, 8, legal);
	default:
		if (ch == quote) {
			*legal = true;
			return next(s);
		}
		if (!s->err)
			s->err = "illegal escape sequence";
		return ch;
	}
}

static bool scan_quoted(struct scanner *s, int quote)
{
	bool illegal = false;
	int ch = next(s);

	while (ch != quote) {
		if (ch == '\n' || ch < 0) {
			if (!s->err)
				s->err = "quoted literal not terminated";
			return false;
		}
		if (ch == '\\') {
			bool legal;
			ch = scan_escape(s, quote, &legal);
			if (!legal)
				illegal = true;
		} else {
			ch = next(s);
		}
	}
	return !illegal;
}

/* One token: its kind, its text [*start, *end). */
static int scan(struct scanner *s, size_t *start, size_t *end)
{
	int ch = next(s);
	size_t pos = s->pos;

	for (;;) {
		*start = pos;
		if (ch == TOK_EOF || ch == TOK_ILLEGAL) {
			*end = *start;
			return ch;
		}
		if (ch == '/' || ch == '|' || ch == '"') {
			bool good = scan_quoted(s, ch);
			*end = s->ppos;
			return good ? TOK_QUOTED : TOK_ILLEGAL;
		}
		if (ch == ',' || ch == '.') {
			s->value = false;
			*end = s->ppos;
			return TOK_SEP;
		}
		if (ch == '=' || ch == '!' || ch == '~') {
			for (int c = peek(s); c == '=' || c == '!' || c == '~'; c = peek(s))
				next(s);
			s->value = true;
			*end = s->ppos;
			return TOK_OP;
		}
		if (ch > 0 && is_space(ch)) {
			ch = next(s);
			pos = s->pos;
			continue;
		}
		if (s->value) {
			while (is_value_rune(peek(s)))
				next(s);
			s->value = false;
			*end = s->ppos;
			return TOK_VALUE;
		}
		if (is_field_rune(ch)) {
			while (is_field_rune(peek(s)))
				next(s);
			*end = s->ppos;
			return TOK_FIELD;
		}
		*end = *start;
		return ch;
	}
}

static void put_utf8(char *buf, size_t *o, unsigned r)
{
	if (r < 0x80) {
		buf[(*o)++] = (char)r;
	} else if (r < 0x800) {
		buf[(*o)++] = (char)(0xc0 | (r >> 6));
		buf[(*o)++] = (char)(0x80 | (r & 0x3f));
	} else if (r < 0x10000) {
		buf[(*o)++] = (char)(0xe0 | (r >> 12));
		buf[(*o)++] = (char)(0x80 | ((r >> 6) & 0x3f));
		buf[(*o)++] = (char)(0x80 | (r & 0x3f));
	} else {
		buf[(*o)++] = (char)(0xf0 | (r >> 18));
		buf[(*o)++] = (char)(0x80 | ((r >> 12) & 0x3f));
		buf[(*o)++] = (char)(0x80 | ((r >> 6) & 0x3f));
		buf[(*o)++] = (char)(0x80 | (r & 0x3f));
	}
}

/* Go's strconv-like unquoting with containerd's extra quote characters.  NULL on a syntax
 * error. */
static char *unquote(const char *s, size_t n)
{
	char q, *out;
	size_t o = 0;

	if (n < 2 || s[0] != s[n - 1])
		return NULL;
	q = s[0];
	if (q != '"' && q != '|' && q != '/')
		return NULL;
	s++;
	n -= 2;
	if (memchr(s, '\n', n))
		return NULL;
	out = malloc(n * 2 + 1);
	if (!out)
		return NULL;
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)s[i];
		if (c == (unsigned char)q)
			goto bad;
		if (c != '\\') {
			out[o++] = (char)c;
			i++;
			continue;
		}
		if (i + 1 >= n)
			goto bad;
		c = (unsigned char)s[i + 1];
		i += 2;
		switch (c) {
		case 'a': out[o++] = '\a'; break;
		case 'b': out[o++] = '\b'; break;
		case 'f': out[o++] = '\f'; break;
		case 'n': out[o++] = '\n'; break;
		case 'r': out[o++] = '\r'; break;
		case 't': out[o++] = '\t'; break;
		case 'v': out[o++] = '\v'; break;
		case '\\': out[o++] = '\\'; break;
		case 'x': case 'u': case 'U': {
			size_t k = c == 'x' ? 2 : c == 'u' ? 4 : 8;
			unsigned v = 0;
			if (n - i < k)
				goto bad;
			for (size_t j = 0; j < k; j++) {
				int d = digit_val(s[i + j]);
				if (d >= 16)
					goto bad;
				v = (v << 4) | (unsigned)d;
			}
			i += k;
			if (c == 'x') {
				out[o++] = (char)v;
				break;
			}
			if (v > 0x10ffff)
				goto bad;
			put_utf8(out, &o, v);
			break;
		}
		case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7': {
			unsigned v = c - '0';
			if (n - i < 2)
				goto bad;
			for (size_t j = 0; j < 2; j++) {
				if (s[i + j] < '0' || s[i + j] > '7')
					goto bad;
				v = (v << 3) | (unsigned)(s[i + j] - '0');
			}
			i += 2;
			if (v > 255)
				goto bad;
			out[o++] = (char)v;
			break;
		}
		case '\'': case '"': case '|': case '/':
			if (c != (unsigned char)q)
				goto bad;
			out[o++] = (char)c;
			break;
		default:
			goto bad;
		}
	}
	out[o] = '\0';
	if (strlen(out) != o) /* a \x00 or \000 escape: our strings end at NUL */
		goto bad;
	return out;
bad:
	free(out);
	return NULL;
}

struct parser {
	struct scanner sc;
	struct snap_status *st;
};

static int perr(struct parser *p, size_t pos, const char *what)
{
	char q[160];

	if (pos < p->sc.len)
		return snap_fail(p->st, SNAP_INVALID_ARGUMENT,
				 "filters: parse error: %s at byte %zu of %s", what, pos,
				 snap_quote(p->sc.in, 120, q, sizeof(q)));
	return snap_fail(p->st, SNAP_INVALID_ARGUMENT, "filters: parse error: %s in %s", what,
			 snap_quote(p->sc.in, 120, q, sizeof(q)));
}

static char *dup_text(struct parser *p, size_t a, size_t b)
{
	return strndup(p->sc.in + a, b - a);
}

static int field(struct parser *p, char **ret)
{
	size_t a, b;
	int tok = scan(&p->sc, &a, &b);

	switch (tok) {
	case TOK_FIELD:
		*ret = dup_text(p, a, b);
		return *ret ? 0 : snap_fail(p->st, SNAP_INTERNAL, "out of memory");
	case TOK_QUOTED:
		if (p->sc.in[a] != '"')
			return perr(p, a, "invalid quote encountered");
		*ret = unquote(p->sc.in + a, b - a);
		return *ret ? 0 : perr(p, a, "unquoting failed");
	case TOK_ILLEGAL:
		return perr(p, a, p->sc.err ? p->sc.err : "illegal input");
	default:
		return perr(p, a, "expected field or quoted");
	}
}

static int selector(struct parser *p, struct selector *sel)
{
	size_t a, b;
	int tok, c;
	char *f = NULL;

	memset(sel, 0, sizeof(*sel));
	if (field(p, &f) < 0)
		return -1;
	for (;;) {
		char **np = realloc(sel->path, (sel->n_path + 1) * sizeof(char *));
		if (!np) {
			free(f);
			return snap_fail(p->st, SNAP_INTERNAL, "out of memory");
		}
		sel->path = np;
		sel->path[sel->n_path++] = f;
		if (peek(&p->sc) != '.')
			break;
		scan(&p->sc, &a, &b);
		if (field(p, &f) < 0)
			return -1;
	}
	c = peek(&p->sc);
	if (c == ',' || c == TOK_EOF) {
		sel->op = OP_PRESENT;
		return 0;
	}
	tok = scan(&p->sc, &a, &b);
	if (tok == TOK_ILLEGAL)
		return perr(p, a, p->sc.err ? p->sc.err : "illegal input");
	if (tok != TOK_OP)
		return perr(p, a, "expected an operator (\"==\"|\"!=\"|\"~=\")");
	if (b - a == 2 && !memcmp(p->sc.in + a, "==", 2))
		sel->op = OP_EQ;
	else if (b - a == 2 && !memcmp(p->sc.in + a, "!=", 2))
		sel->op = OP_NE;
	else if (b - a == 2 && !memcmp(p->sc.in + a, "~=", 2))
		sel->op = OP_MATCH;
	else
		return perr(p, a, "unsupported operator");
	tok = scan(&p->sc, &a, &b);
	switch (tok) {
	case TOK_VALUE:
	case TOK_FIELD:
		sel->value = dup_text(p, a, b);
		break;
	case TOK_QUOTED:
		if (sel->op != OP_MATCH && p->sc.in[a] != '"')
			return perr(p, a, "invalid quote encountered");
		sel->value = unquote(p->sc.in + a, b - a);
		if (!sel->value)
			return perr(p, a, "unquoting failed");
		break;
	case TOK_ILLEGAL:
		return perr(p, a, p->sc.err ? p->sc.err : "illegal input");
	default:
		return perr(p, a, "expected value or quoted");
	}
	if (!sel->value)
		return snap_fail(p->st, SNAP_INTERNAL, "out of memory");
	if (sel->op == OP_MATCH) {
		if (regcomp(&sel->re, sel->value, REG_EXTENDED | REG_NOSUB) != 0)
			return perr(p, a, "invalid regular expression");
		sel->has_re = true;
	}
	return 0;
}

static void conj_free(struct conj *c)
{
	for (size_t i = 0; i < c->n; i++) {
		struct selector *s = &c->sel[i];
		for (size_t k = 0; k < s->n_path; k++)
			free(s->path[k]);
		free(s->path);
		free(s->value);
		if (s->has_re)
			regfree(&s->re);
	}
	free(c->sel);
}

static int parse_one(const char *in, struct conj *ret, struct snap_status *st)
{
	struct parser p = { .sc = { .in = in, .len = strlen(in) }, .st = st };
	size_t a, b;

	memset(ret, 0, sizeof(*ret));
	if (!*in)
		return 0; /* "" matches everything */
	for (;;) {
		struct selector *ns = realloc(ret->sel, (ret->n + 1) * sizeof(*ns));
		int c;
		if (!ns)
			return snap_fail(st, SNAP_INTERNAL, "out of memory");
		ret->sel = ns;
		if (selector(&p, &ret->sel[ret->n]) < 0) {
			ret->n++;
			return -1;
		}
		ret->n++;
		c = peek(&p.sc);
		if (c == TOK_EOF)
			return 0;
		if (c != ',')
			return perr(&p, p.sc.ppos, "unexpected input");
		if (scan(&p.sc, &a, &b) != TOK_SEP)
			return perr(&p, a, "expected a separator");
	}
}

int snap_filter_parse(char **filters, size_t n, struct snap_filter **ret, struct snap_status *st)
{
	struct snap_filter *f = calloc(1, sizeof(*f));

	*ret = NULL;
	if (!f || (n && !(f->any = calloc(n, sizeof(*f->any))))) {
		free(f);
		return snap_fail(st, SNAP_INTERNAL, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		int r = parse_one(filters[i], &f->any[i], st);
		f->n++;
		if (r < 0) {
			snap_filter_free(f);
			return -1;
		}
	}
	*ret = f;
	return 0;
}

void snap_filter_free(struct snap_filter *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n; i++)
		conj_free(&f->any[i]);
	free(f->any);
	free(f);
}

/* The adaptor of containerd's snapshot storage: kind, name, parent, labels.<key>. */
static const char *field_value(const struct snap_info *in, char *const *path, size_t n,
			       bool *present)
{
	static const char *const kinds[] = { "", "view", "active", "committed" };

	*present = true;
	if (STREQ(path[0], "kind") && in->kind >= 1 && in->kind <= 3)
		return kinds[in->kind];
	if (STREQ(path[0], "name"))
		return in->name;
	if (STREQ(path[0], "parent"))
		return in->parent;
	if (STREQ(path[0], "labels") && in->n_labels) {
		size_t len = 0;
		char *key;
		for (size_t i = 1; i < n; i++)
			len += strlen(path[i]) + 1;
		key = malloc(len + 1);
		if (key) {
			size_t o = 0;
			key[0] = '\0';
			for (size_t i = 1; i < n; i++)
				o += (size_t)sprintf(key + o, "%s%s", i > 1 ? "." : "", path[i]);
			for (size_t i = 0; i < in->n_labels; i++)
				if (STREQ(in->label_keys[i], key)) {
					free(key);
					return in->label_values[i];
				}
			free(key);
		}
	}
	*present = false;
	return "";
}

bool snap_filter_match(const struct snap_filter *f, const struct snap_info *info)
{
	if (!f || f->n == 0)
		return true;
	for (size_t i = 0; i < f->n; i++) {
		const struct conj *c = &f->any[i];
		bool all = true;
		for (size_t k = 0; k < c->n && all; k++) {
			const struct selector *s = &c->sel[k];
			bool present;
			const char *v = field_value(info, s->path, s->n_path, &present);
			switch (s->op) {
			case OP_PRESENT:
				all = present;
				break;
			case OP_EQ:
				all = present && STREQ(v, s->value);
				break;
			case OP_NE:
				all = !STREQ(v, s->value);
				break;
			case OP_MATCH:
				all = regexec(&s->re, v, 0, NULL, 0) == 0;
				break;
			}
		}
		if (all)
			return true;
	}
	return false;
}
