/* template-internal.h — what the template engine's files share (not a public API).
 *
 * The engine is split by phase so each file stays small and readable:
 *
 *   template-lexer.c    source text → tokens (Jinja2's lexer rules, with line:col)
 *   template-parser.c   tokens → tree of tnode (statements and expressions)
 *   template-eval.c     expressions → values (Python semantics of operators)
 *   template-render.c   statements → output, scopes, includes, public API
 *   template-filters.c  filters and tests (`x|upper`, `x is defined`)
 *   template-methods.c  the few Python methods allowed (`d.items()`, `s.split()`) and globals (range)
 *   template-format.c   Python's printf-style `"%02d" % n` and the format filter
 *   template-value.c    Python's str()/repr()/==/</truthiness, tojson, the tuple marks
 *   template-utf8.c     byte buffers (tbuf), UTF-8, Python's Unicode case/space/printable rules
 *   template-unicode.c  the generated Unicode tables
 *
 * Values are jansson values, shared by reference and never mutated once
 * built (constants of the tree are handed out by reference too).  An
 * undefined value is a tval whose json is NULL; it remembers why and where it
 * arose so StrictUndefined's error can point at the variable.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "diag.h"
#include "macro.h"
#include "template.h"

/* ---------------------------------------------------------------- buffers */

/* A growable byte buffer that refuses to grow past max (0: no cap). */
typedef struct tbuf {
        char *data;
        size_t len, cap;
        size_t max;
} tbuf;

int tbuf_put(tbuf *b, const void *p, size_t n); /* -E2BIG past max, -ENOMEM */
static inline int tbuf_puts(tbuf *b, const char *s) {
        return tbuf_put(b, s, strlen(s));
}
static inline int tbuf_putc(tbuf *b, char c) {
        return tbuf_put(b, &c, 1);
}
int tbuf_printf(tbuf *b, const char *fmt, ...) _printf_(2, 3);
/* Hands out the NUL-terminated contents and empties b. */
char *tbuf_steal(tbuf *b, size_t *ret_len);
void tbuf_done(tbuf *b);
#define _cleanup_tbuf_ _cleanup_(tbuf_done)

/* ------------------------------------------------------------ UTF-8/Unicode */

typedef struct tmpl_case_map {
        uint32_t cp;
        uint32_t to[3]; /* 0-terminated when shorter */
} tmpl_case_map;
typedef struct tmpl_range {
        uint32_t lo, hi;
} tmpl_range;
extern const tmpl_case_map tmpl_upper_map[], tmpl_lower_map[], tmpl_title_map[];
extern const size_t tmpl_upper_map_len, tmpl_lower_map_len, tmpl_title_map_len;
extern const tmpl_range tmpl_space_ranges[], tmpl_nonprintable_ranges[], tmpl_cased_ranges[],
        tmpl_case_ignorable_ranges[];
extern const size_t tmpl_space_ranges_len, tmpl_nonprintable_ranges_len, tmpl_cased_ranges_len,
        tmpl_case_ignorable_ranges_len;

/* Decodes the code point at s (valid UTF-8 assumed); returns its byte length. */
size_t tmpl_utf8_next(const char *s, size_t len, uint32_t *ret_cp);
/* Byte length of the code point that ends at s[len-1]. */
size_t tmpl_utf8_prev(const char *s, size_t len);
size_t tmpl_utf8_encode(uint32_t cp, char out[4]);
/* Offset of the first invalid byte, or len when all of it is valid UTF-8. */
size_t tmpl_utf8_invalid_at(const char *s, size_t len);
size_t tmpl_utf8_count(const char *s, size_t len);
/* Byte offset of code point number idx (idx <= count). */
size_t tmpl_utf8_offset(const char *s, size_t len, size_t idx);
int tbuf_put_cp(tbuf *b, uint32_t cp);

bool tmpl_uni_isspace(uint32_t cp);      /* Python str.isspace() / re's \s */
bool tmpl_uni_isprintable(uint32_t cp);  /* Python str.isprintable() */
bool tmpl_uni_islinebreak(uint32_t cp);  /* Python str.splitlines() boundaries */
/* Python's str.upper()/lower() (full mappings, final sigma) of s, appended to out. */
int tmpl_uni_upper(tbuf *out, const char *s, size_t len);
/* Lowers s[start..len) seeing all of s as context (for final sigma). */
int tmpl_uni_lower(tbuf *out, const char *s, size_t len, size_t start);
/* Title case of one code point (str.capitalize()'s first letter). */
int tmpl_uni_title_cp(tbuf *out, uint32_t cp);
/* Length of the leading / trailing run of Python whitespace. */
size_t tmpl_uni_lspace(const char *s, size_t len);
size_t tmpl_uni_rspace(const char *s, size_t len);

/* ----------------------------------------------------------------- tokens */

typedef enum ttok_kind {
        TT_EOF,
        TT_DATA,
        TT_VAR_BEGIN,
        TT_VAR_END,
        TT_BLOCK_BEGIN,
        TT_BLOCK_END,
        TT_NAME,
        TT_STRING,
        TT_INTEGER,
        TT_FLOAT,
        TT_OP,
} ttok_kind;

typedef enum top {
        OP_ADD, OP_SUB, OP_DIV, OP_FLOORDIV, OP_MUL, OP_MOD, OP_POW, OP_TILDE,
        OP_LBRACKET, OP_RBRACKET, OP_LPAREN, OP_RPAREN, OP_LBRACE, OP_RBRACE,
        OP_EQ, OP_NE, OP_GT, OP_GTEQ, OP_LT, OP_LTEQ, OP_ASSIGN, OP_DOT, OP_COLON,
        OP_PIPE, OP_COMMA, OP_SEMICOLON,
        /* comparisons that are words */
        OP_IN, OP_NOTIN,
        _OP_MAX,
} top;

typedef struct ttok {
        ttok_kind kind;
        top op;
        unsigned line, col;
        const char *text; /* points into the normalized source */
        size_t len;
        char *str;        /* TT_STRING: the decoded value (owned) */
        size_t str_len;
        int64_t i;        /* TT_INTEGER */
        double f;         /* TT_FLOAT */
} ttok;

typedef struct ttoks {
        ttok *v;
        size_t n, cap;
        char *src; /* normalized source the tokens point into */
        size_t src_len;
} ttoks;

int tmpl_lex(const char *text, size_t len, const char *name, bool keep_trailing_newline, ttoks *ret, diags *d);
void ttoks_done(ttoks *t);
const char *tmpl_op_str(top op);

/* ------------------------------------------------------------------- tree */

typedef enum tnode_kind {
        /* statements */
        TN_DATA,
        TN_OUTPUT,
        TN_IF,
        TN_FOR,
        TN_SET,
        TN_SET_BLOCK,
        TN_INCLUDE,
        TN_WITH,
        TN_FILTER_BLOCK,
        /* expressions */
        TN_CONST,
        TN_NAME,
        TN_GETATTR,
        TN_GETITEM,
        TN_SLICE,
        TN_LIST,
        TN_TUPLE,
        TN_DICT,
        TN_BINOP,
        TN_CONCAT,
        TN_COMPARE,
        TN_AND,
        TN_OR,
        TN_NOT,
        TN_NEG,
        TN_POS,
        TN_COND,
        TN_FILTER,
        TN_TEST,
        TN_CALL,
        TN_KWARG,
} tnode_kind;

typedef struct tnode tnode;
typedef struct tnodes {
        tnode **v;
        size_t n;
} tnodes;

struct tnode {
        tnode_kind kind;
        unsigned line, col;
        int op;             /* TN_BINOP: top; TN_FILTER/TN_TEST: table index */
        bool flag;          /* TN_FOR: body reads `loop`; TN_INCLUDE: ignore missing */
        bool flag2;         /* TN_INCLUDE: with context */
        char *name;         /* TN_NAME, TN_GETATTR, TN_KWARG; TN_DATA: the text */
        size_t len;         /* TN_DATA: text length */
        json_t *value;      /* TN_CONST */
        tnode *a, *b, *c;   /* operands (see template-parser.c for each kind) */
        tnodes list;        /* items, positional args (filters: bound to parameter slots), targets */
        tnodes kw;          /* keyword args (TN_KWARG), TN_WITH values */
        int *ops;           /* TN_COMPARE: one top per operand after the first */
        tnodes body, else_body;
};

void tnode_free(tnode *n);
DEFINE_TRIVIAL_CLEANUP_FUNC(tnode *, tnode_free);
int tnodes_push(tnodes *l, tnode *n); /* takes n (frees it on failure) */
void tnodes_done(tnodes *l);

struct tmpl {
        char *name;
        char *include_dir;
        unsigned max_include_depth;
        size_t max_output;
        uint64_t max_work;
        bool keep_trailing_newline;
        tnodes body;
};

int tmpl_parse_tokens(ttoks *toks, const char *name, tnodes *ret, diags *d);

/* ------------------------------------------------------------- filters */

typedef struct tctx tctx;

/* A value: json is NULL when undefined. */
typedef struct tval {
        json_t *j;
        char *why;          /* undefined: the StrictUndefined message */
        const char *where;  /* undefined: template name it arose in */
        unsigned line, col; /* undefined: position it arose at */
        bool lenient;       /* undefined from an inline if without else: prints as '' */
} tval;

void tval_done(tval *v);
int tval_copy(const tval *v, tval *ret);
#define _cleanup_tval_ _cleanup_(tval_done)
static inline tval tval_take(tval *v) {
        tval r = *v;
        *v = (tval){};
        return r;
}
/* Sets *v to j (takes the reference; NULL j means out of memory). */
int tval_set(tval *v, json_t *j);

enum {
        TF_UNDEF_INPUT = 1 << 0, /* the filter/test sees undefined input (default, defined...) */
        TF_UNDEF_ARGS = 1 << 1,  /* ... and undefined arguments */
};
#define TMPL_MAX_PARAMS 8

typedef int (*tmpl_filter_fn)(tctx *c, const tnode *n, tval *in, tval *args, tval *ret);
typedef struct tmpl_filter {
        const char *name;
        tmpl_filter_fn fn;
        unsigned flags;
        const char *params[TMPL_MAX_PARAMS]; /* Python parameter names after the input; "*name": keyword-only */
} tmpl_filter;

/* Filters and tests share the shape; a test's ret is a json boolean. */
const tmpl_filter *tmpl_find_filter(const char *name, int *ret_index);
const tmpl_filter *tmpl_find_test(const char *name, int *ret_index);
const tmpl_filter *tmpl_filter_at(int index);
const tmpl_filter *tmpl_test_at(int index);
/* Unknown-filter/test hints: Jinja2 filters kiln knows about but doesn't implement. */
bool tmpl_filter_is_unsupported(const char *name);

/* ------------------------------------------------------------- rendering */

typedef struct tvar {
        char *name;
        tval v;
} tvar;

typedef struct tframe {
        struct tframe *up;
        tvar *v;
        size_t n, cap;
        bool include_boundary; /* frames above are the includer's: `loop` is hidden */
        bool isolated;         /* frames above and the variables are invisible (include without context) */
} tframe;

typedef struct tptrset {
        json_t **v;
        size_t n, cap;
} tptrset;

typedef struct tincl {
        char *name;
        tmpl *t;
} tincl;

struct tctx {
        diags *d;
        const tmpl *t;       /* template being rendered (diagnostics name, include settings) */
        json_t *vars;        /* top-level variables (object) */
        tframe *frame;
        tbuf *out;
        uint64_t work, max_work;
        size_t max_output;
        unsigned depth;      /* include nesting */
        unsigned max_depth;
        const char *include_dir; /* the top-level template's; NULL: no includes */
        tptrset tuples;      /* arrays that are Python tuples (for repr) */
        tincl *incl;         /* includes parsed so far in this render */
        size_t n_incl;
        int dirfd;           /* include_dir, opened lazily */
};

/* Positioned error in the template being rendered; returns -EINVAL. */
int tctx_error(tctx *c, const tnode *n, const char *fmt, ...) _printf_(3, 4);
/* Charges work units; fails with a diagnostic past the budget. */
int tctx_charge(tctx *c, const tnode *n, uint64_t units);
/* Errors out (StrictUndefined) when v is undefined. */
int tval_require(tctx *c, const tval *v);
int tval_undefined(tctx *c, const tnode *n, tval *ret, const char *fmt, ...) _printf_(4, 5);
/* A new string value from a buffer: charges its size, checks max_output. */
int tctx_string(tctx *c, const tnode *n, const char *s, size_t len, tval *ret);

int tmpl_eval(tctx *c, const tnode *n, tval *ret);
int tmpl_eval_defined(tctx *c, const tnode *n, tval *ret);
/* Applies filter node n to `seed` (filter blocks) or to n->a. */
int tmpl_eval_filter(tctx *c, const tnode *n, tval *seed, tval *ret);
int tmpl_eval_call(tctx *c, const tnode *n, tval *ret);
/* Python binary operators (+ - * / // % **) and comparisons (== != < <= > >= in, not in). */
int tmpl_binop(tctx *c, const tnode *n, top op, json_t *a, json_t *b, tval *ret);
int tmpl_compare(tctx *c, const tnode *n, int op, json_t *a, json_t *b, bool *ret);
/* Python truthiness of a maybe-undefined value (lenient undefined: false). */
int tmpl_truthy_tval(tctx *c, const tval *v, bool *ret);
/* Python's `fmt % args` (args: a tuple, a mapping, or one value). */
int tmpl_percent_format(tctx *c, const tnode *n, json_t *fmt, json_t *args, tval *ret);
/* dict.items() as a list of (key, value) tuples. */
int tmpl_dict_items(tctx *c, const tnode *n, json_t *d, tval *ret);
/* True when Python's type of obj has an attribute `name` (a method, for us). */
bool tmpl_has_method(json_t *obj, const char *name);
/* str.strip()/lstrip()/rstrip(chars) (chars NULL: whitespace) and str.replace(). */
int tmpl_strip(tctx *c, const tnode *n, json_t *s, json_t *chars, bool left, bool right, tval *ret);
int tmpl_replace(tctx *c, const tnode *n, json_t *s, json_t *old, json_t *new, int64_t count, tval *ret);
/* Environment.getattr / getitem: missing → undefined, not an error. */
int tmpl_getitem(tctx *c, const tnode *n, json_t *obj, json_t *key, tval *ret);
/* Python iteration of v into a new array (list, tuple: itself; dict: keys; str: characters). */
int tmpl_iterate(tctx *c, const tnode *n, json_t *v, json_t **ret);
/* Filter attribute= paths ("a.b.0"). */
int tmpl_attr_path(tctx *c, const tnode *n, json_t *item, const char *path, tval *ret);

/* ------------------------------------------------------------- values */

const char *tmpl_type_name(tctx *c, json_t *v); /* Python's: "str", "int", "dict", ... */
bool tmpl_is_tuple(tctx *c, json_t *v);
int tmpl_mark_tuple(tctx *c, json_t *v);
void tptrset_done(tptrset *s);

bool tmpl_is_number(json_t *v); /* int, float or bool (Python's bool is an int) */
bool tmpl_is_intlike(json_t *v); /* int or bool */
int64_t tmpl_int_value(json_t *v); /* int or bool */
double tmpl_num_value(json_t *v);

int tmpl_str(tctx *c, tbuf *out, json_t *v);  /* Python str() */
int tmpl_repr(tctx *c, tbuf *out, json_t *v); /* Python repr() */
int tmpl_str_tval(tctx *c, const tnode *n, tbuf *out, const tval *v); /* str() of a maybe-undefined value */
void tmpl_float_repr(double d, char buf[static 32]);
bool tmpl_truthy(json_t *v);
bool tmpl_equal(tctx *c, json_t *a, json_t *b);
/* Python a < b (op: OP_LT, OP_LTEQ, OP_GT, OP_GTEQ); TypeError → diagnostic at n. */
int tmpl_order(tctx *c, const tnode *n, top op, json_t *a, json_t *b, bool *ret);
int tmpl_tojson(tctx *c, const tnode *n, tbuf *out, json_t *v, const char *indent, int depth);
/* A string value's bytes. */
static inline const char *jstr(json_t *v) {
        return json_string_value(v);
}
static inline size_t jlen(json_t *v) {
        return json_string_length(v);
}
