/* template-parser.c — tokens → tree, with Jinja2's grammar and precedence.
 *
 * A recursive-descent parser shaped like jinja2/parser.py, so that operator
 * precedence and the odd corners match: filters bind tighter than any
 * binary operator (`a ~ b|upper` is `a ~ (b|upper)`), `**` is left
 * associative and binds looser than unary minus (`-2**2` is 4), comparisons
 * chain, `{{ a, b }}` is a tuple, adjacent string literals concatenate.
 *
 * What the tree holds for each kind (the fields of tnode):
 *   TN_DATA name/len: text        TN_OUTPUT a: expression
 *   TN_IF a: test, body, else_body (an elif is an TN_IF alone in else_body)
 *   TN_FOR list: the target, a: iterable, b: filter test, body, else_body, flag: body reads `loop`
 *   TN_SET list: the target, a: value         TN_SET_BLOCK list: the target, b: filters, body
 *   (a target is a TN_NAME, or a TN_TUPLE of targets to unpack into)
 *   TN_INCLUDE a: name, flag: ignore missing, flag2: with context
 *   TN_WITH list: targets, kw: values, body   TN_FILTER_BLOCK b: filters, body
 *   TN_GETATTR a: object, name                TN_GETITEM a: object, b: key (TN_SLICE a/b/c)
 *   TN_BINOP op, a, b   TN_CONCAT list   TN_COMPARE list: operands, ops   TN_COND a: test, b: then, c: else
 *   TN_FILTER/TN_TEST op: table index, a: input (NULL at the bottom of a filter block's chain),
 *                     list: one slot per parameter (NULL when not passed)
 *   TN_CALL a: callee, list: args, kw: TN_KWARG (name, a)
 * Unknown filters and tests are errors here, like Jinja's compile-time check.
 * Nesting is capped (MAX_DEPTH) so a hostile template can't overflow the stack.
 */
#include <stdarg.h>

#include "template-internal.h"
#include "util.h"

#define MAX_DEPTH 100

typedef struct parser {
        ttoks *t;
        size_t i;
        const char *name;
        diags *d;
        unsigned depth;
        /* open block tags, for "which block isn't closed" messages */
        const ttok *open[MAX_DEPTH + 1];
        size_t n_open;
} parser;

static int parse_expression(parser *p, bool with_condexpr, tnode **ret);
static int parse_tuple(parser *p, bool with_condexpr, const char *extra_end, bool explicit_parens, tnode **ret);
static int parse_unary(parser *p, bool with_filter, tnode **ret);
static int parse_primary(parser *p, tnode **ret);
static int parse_postfix(parser *p, tnode **node);
static int parse_filter(parser *p, tnode **node, bool start_inline);
static int parse_body(parser *p, const char *const *ends, tnodes *ret);

/* ---------------------------------------------------------------- nodes */

void tnodes_done(tnodes *l) {
        for (size_t i = 0; i < l->n; i++)
                tnode_free(l->v[i]);
        free(l->v);
        *l = (tnodes){};
}

int tnodes_push(tnodes *l, tnode *n) {
        tnode **v = reallocarray(l->v, l->n + 1, sizeof *v);
        if (!v) {
                tnode_free(n);
                return -ENOMEM;
        }
        l->v = v;
        l->v[l->n++] = n;
        return 0;
}

void tnode_free(tnode *n) {
        if (!n)
                return;
        free(n->name);
        json_decref(n->value);
        tnode_free(n->a);
        tnode_free(n->b);
        tnode_free(n->c);
        tnodes_done(&n->list);
        tnodes_done(&n->kw);
        free(n->ops);
        tnodes_done(&n->body);
        tnodes_done(&n->else_body);
        free(n);
}

static tnode *node_new(tnode_kind kind, const ttok *at) {
        tnode *n = calloc(1, sizeof *n);
        if (!n)
                return NULL;
        n->kind = kind;
        n->line = at->line;
        n->col = at->col;
        return n;
}

/* --------------------------------------------------------------- tokens */

static const ttok *cur(const parser *p) {
        return &p->t->v[p->i];
}

static const ttok *peek(const parser *p) {
        return p->i + 1 < p->t->n ? &p->t->v[p->i + 1] : &p->t->v[p->i];
}

static const ttok *next(parser *p) {
        const ttok *t = cur(p);
        if (t->kind != TT_EOF)
                p->i++;
        return t;
}

static bool tok_is_name(const ttok *t, const char *name) {
        return t->kind == TT_NAME && t->len == strlen(name) && memcmp(t->text, name, t->len) == 0;
}

static bool tok_is_op(const ttok *t, top op) {
        return t->kind == TT_OP && t->op == op;
}

static char *tok_strdup(const ttok *t) {
        return strndup(t->text, t->len);
}

/* How Jinja names a token in "expected X, got Y". */
static void describe(const ttok *t, char *buf, size_t n) {
        switch (t->kind) {
        case TT_EOF:
                snprintf(buf, n, "end of template");
                break;
        case TT_DATA:
                snprintf(buf, n, "template data");
                break;
        case TT_VAR_BEGIN:
                snprintf(buf, n, "begin of print statement");
                break;
        case TT_VAR_END:
                snprintf(buf, n, "end of print statement");
                break;
        case TT_BLOCK_BEGIN:
                snprintf(buf, n, "begin of statement block");
                break;
        case TT_BLOCK_END:
                snprintf(buf, n, "end of statement block");
                break;
        case TT_NAME:
                snprintf(buf, n, "'%.*s'", (int) MIN(t->len, (size_t) 40), t->text);
                break;
        case TT_STRING:
                snprintf(buf, n, "string");
                break;
        case TT_INTEGER:
                snprintf(buf, n, "integer");
                break;
        case TT_FLOAT:
                snprintf(buf, n, "float");
                break;
        case TT_OP:
                snprintf(buf, n, "'%s'", tmpl_op_str(t->op));
                break;
        }
}

static int perr(parser *p, const ttok *at, const char *fmt, ...) _printf_(3, 4);
static int perr(parser *p, const ttok *at, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        diag_error(p->d, p->name, at->line, at->col, "%s", msg ? msg : "syntax error");
        return -EINVAL;
}

static int unexpected(parser *p, const char *expected) {
        char got[64];
        describe(cur(p), got, sizeof got);
        if (cur(p)->kind == TT_EOF)
                return perr(p, cur(p), "unexpected end of template, expected %s", expected);
        return perr(p, cur(p), "expected %s, got %s", expected, got);
}

static int expect_op(parser *p, top op) {
        char want[16];
        if (tok_is_op(cur(p), op)) {
                next(p);
                return 0;
        }
        snprintf(want, sizeof want, "'%s'", tmpl_op_str(op));
        return unexpected(p, want);
}

static int expect_kind(parser *p, ttok_kind kind) {
        ttok t = { .kind = kind };
        char want[64];
        if (cur(p)->kind == kind) {
                next(p);
                return 0;
        }
        describe(&t, want, sizeof want);
        return unexpected(p, want);
}

static int enter(parser *p) {
        if (p->depth >= MAX_DEPTH)
                return perr(p, cur(p), "template nested too deeply (more than %d levels)", MAX_DEPTH);
        p->depth++;
        return 0;
}

/* ---------------------------------------------------------- expressions */

static int make_binary(tnode_kind kind, int op, const ttok *at, tnode **left, tnode *right) {
        tnode *n = node_new(kind, at);
        if (!n) {
                tnode_free(right);
                return -ENOMEM;
        }
        n->op = op;
        n->a = TAKE_PTR(*left);
        n->b = right;
        *left = n;
        return 0;
}

static int parse_list_items(parser *p, top close, tnodes *items, tnodes *values) {
        int r;

        while (!tok_is_op(cur(p), close)) {
                tnode *e = NULL;
                if (items->n > 0 && (r = expect_op(p, OP_COMMA)) < 0)
                        return r;
                if (tok_is_op(cur(p), close))
                        break;
                if ((r = parse_expression(p, true, &e)) < 0 || (r = tnodes_push(items, e)) < 0)
                        return r;
                if (values) {
                        if ((r = expect_op(p, OP_COLON)) < 0 || (r = parse_expression(p, true, &e)) < 0 ||
                            (r = tnodes_push(values, e)) < 0)
                                return r;
                }
        }
        return expect_op(p, close);
}

static int parse_list(parser *p, tnode **ret) {
        _cleanup_(tnode_freep) tnode *n = node_new(TN_LIST, cur(p));
        if (!n)
                return -ENOMEM;
        next(p);
        int r = parse_list_items(p, OP_RBRACKET, &n->list, NULL);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(n);
        return 0;
}

static int parse_dict(parser *p, tnode **ret) {
        _cleanup_(tnode_freep) tnode *n = node_new(TN_DICT, cur(p));
        if (!n)
                return -ENOMEM;
        next(p);
        int r = parse_list_items(p, OP_RBRACE, &n->list, &n->kw);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(n);
        return 0;
}

static int parse_string_const(parser *p, tnode **ret) {
        _cleanup_tbuf_ tbuf b = {};
        tnode *n = node_new(TN_CONST, cur(p));
        if (!n)
                return -ENOMEM;
        while (cur(p)->kind == TT_STRING) {
                if (tbuf_put(&b, cur(p)->str, cur(p)->str_len) < 0) {
                        tnode_free(n);
                        return -ENOMEM;
                }
                next(p);
        }
        n->value = json_stringn(b.data ? b.data : "", b.len);
        if (!n->value) {
                tnode_free(n);
                return -ENOMEM;
        }
        *ret = n;
        return 0;
}

static int parse_name_const(parser *p, tnode **ret) {
        const ttok *t = cur(p);
        tnode *n;

        if (tok_is_name(t, "true") || tok_is_name(t, "True") || tok_is_name(t, "false") || tok_is_name(t, "False")) {
                n = node_new(TN_CONST, t);
                if (n)
                        n->value = json_boolean(t->text[0] == 't' || t->text[0] == 'T');
        } else if (tok_is_name(t, "none") || tok_is_name(t, "None")) {
                n = node_new(TN_CONST, t);
                if (n)
                        n->value = json_null();
        } else {
                n = node_new(TN_NAME, t);
                if (n && !(n->name = tok_strdup(t))) {
                        tnode_free(n);
                        n = NULL;
                }
        }
        if (!n)
                return -ENOMEM;
        next(p);
        *ret = n;
        return 0;
}

static int parse_number_const(parser *p, tnode **ret) {
        const ttok *t = next(p);
        tnode *n = node_new(TN_CONST, t);
        if (!n)
                return -ENOMEM;
        n->value = t->kind == TT_INTEGER ? json_integer(t->i) : json_real(t->f);
        if (!n->value) {
                /* json_real() refuses inf/nan: a literal like 1e999 */
                if (t->kind == TT_FLOAT) {
                        tnode_free(n);
                        return perr(p, t, "float literal out of range");
                }
                tnode_free(n);
                return -ENOMEM;
        }
        *ret = n;
        return 0;
}

static int parse_primary(parser *p, tnode **ret) {
        const ttok *t = cur(p);
        int r;

        if (t->kind == TT_NAME)
                return parse_name_const(p, ret);
        if (t->kind == TT_STRING)
                return parse_string_const(p, ret);
        if (t->kind == TT_INTEGER || t->kind == TT_FLOAT)
                return parse_number_const(p, ret);
        if (tok_is_op(t, OP_LPAREN)) {
                next(p);
                if ((r = parse_tuple(p, true, NULL, true, ret)) < 0)
                        return r;
                if ((r = expect_op(p, OP_RPAREN)) < 0) {
                        tnode_free(*ret);
                        *ret = NULL;
                }
                return r;
        }
        if (tok_is_op(t, OP_LBRACKET))
                return parse_list(p, ret);
        if (tok_is_op(t, OP_LBRACE))
                return parse_dict(p, ret);
        char got[64];
        describe(t, got, sizeof got);
        return perr(p, t, "unexpected %s", got);
}

/* One slice part: an expression unless the next token ends it. */
static int parse_slice_part(parser *p, tnode **ret) {
        const ttok *t = cur(p);
        if (tok_is_op(t, OP_COLON) || tok_is_op(t, OP_RBRACKET) || tok_is_op(t, OP_COMMA)) {
                *ret = NULL;
                return 0;
        }
        return parse_expression(p, true, ret);
}

static int parse_subscribed(parser *p, tnode **ret) {
        _cleanup_(tnode_freep) tnode *start = NULL, *s = NULL;
        const ttok *at = cur(p);
        int r;

        if ((r = parse_slice_part(p, &start)) < 0)
                return r;
        if (!tok_is_op(cur(p), OP_COLON)) {
                if (!start)
                        return unexpected(p, "an expression");
                *ret = TAKE_PTR(start);
                return 0;
        }
        next(p);
        s = node_new(TN_SLICE, at);
        if (!s)
                return -ENOMEM;
        s->a = TAKE_PTR(start);
        if ((r = parse_slice_part(p, &s->b)) < 0)
                return r;
        if (tok_is_op(cur(p), OP_COLON)) {
                next(p);
                if ((r = parse_slice_part(p, &s->c)) < 0)
                        return r;
        }
        *ret = TAKE_PTR(s);
        return 0;
}

/* The key of `[...]`: one subscript, or a tuple of them ("a[1, 2]"). */
static int parse_bracket_key(parser *p, const ttok *at, tnode **ret) {
        _cleanup_(tnode_freep) tnode *key = node_new(TN_TUPLE, at);
        int r;

        if (!key)
                return -ENOMEM;
        while (!tok_is_op(cur(p), OP_RBRACKET)) {
                tnode *e = NULL;
                if ((key->list.n > 0 && (r = expect_op(p, OP_COMMA)) < 0) || (r = parse_subscribed(p, &e)) < 0 ||
                    (r = tnodes_push(&key->list, e)) < 0)
                        return r;
        }
        next(p);
        if (key->list.n == 1) {
                *ret = TAKE_PTR(key->list.v[0]);
                return 0;
        }
        *ret = TAKE_PTR(key);
        return 0;
}

static int parse_subscript(parser *p, tnode **node) {
        const ttok *t = next(p), *attr = cur(p);
        _cleanup_(tnode_freep) tnode *n = NULL, *key = NULL;
        int r;

        if (t->op == OP_DOT && attr->kind == TT_NAME) {
                n = node_new(TN_GETATTR, attr);
                if (!n || !(n->name = tok_strdup(attr)))
                        return -ENOMEM;
                next(p);
                n->a = TAKE_PTR(*node);
                *node = TAKE_PTR(n);
                return 0;
        }
        if (t->op == OP_DOT && attr->kind != TT_INTEGER)
                return perr(p, attr, "expected name or number after '.'");
        r = t->op == OP_DOT ? parse_number_const(p, &key) : parse_bracket_key(p, t, &key);
        if (r < 0)
                return r;
        n = node_new(TN_GETITEM, t);
        if (!n)
                return -ENOMEM;
        n->a = TAKE_PTR(*node);
        n->b = TAKE_PTR(key);
        *node = TAKE_PTR(n);
        return 0;
}

static int parse_call_args(parser *p, tnodes *args, tnodes *kwargs) {
        int r;

        next(p); /* ( */
        while (!tok_is_op(cur(p), OP_RPAREN)) {
                tnode *e = NULL;
                if (args->n + kwargs->n > 0) {
                        if ((r = expect_op(p, OP_COMMA)) < 0)
                                return r;
                        if (tok_is_op(cur(p), OP_RPAREN))
                                break;
                }
                if (tok_is_op(cur(p), OP_MUL) || tok_is_op(cur(p), OP_POW))
                        return perr(p, cur(p), "*args and **kwargs are not supported");
                if (cur(p)->kind == TT_NAME && tok_is_op(peek(p), OP_ASSIGN)) {
                        _cleanup_(tnode_freep) tnode *kw = node_new(TN_KWARG, cur(p));
                        if (!kw || !(kw->name = tok_strdup(cur(p))))
                                return -ENOMEM;
                        next(p), next(p);
                        if ((r = parse_expression(p, true, &kw->a)) < 0 || (r = tnodes_push(kwargs, TAKE_PTR(kw))) < 0)
                                return r;
                        continue;
                }
                if (kwargs->n > 0)
                        return perr(p, cur(p), "positional argument follows keyword argument");
                if ((r = parse_expression(p, true, &e)) < 0 || (r = tnodes_push(args, e)) < 0)
                        return r;
        }
        return expect_op(p, OP_RPAREN);
}

static int parse_call(parser *p, tnode **node) {
        _cleanup_(tnode_freep) tnode *n = node_new(TN_CALL, cur(p));
        int r;

        if (!n)
                return -ENOMEM;
        if ((r = parse_call_args(p, &n->list, &n->kw)) < 0)
                return r;
        n->a = TAKE_PTR(*node);
        *node = TAKE_PTR(n);
        return 0;
}

static int parse_postfix(parser *p, tnode **node) {
        int r = 0;
        for (;;) {
                const ttok *t = cur(p);
                if (tok_is_op(t, OP_DOT) || tok_is_op(t, OP_LBRACKET))
                        r = parse_subscript(p, node);
                else if (tok_is_op(t, OP_LPAREN))
                        r = parse_call(p, node);
                else
                        return 0;
                if (r < 0)
                        return r;
        }
}

/* Puts positional and keyword arguments into the filter's parameter slots. */
static int bind_args(parser *p, const ttok *at, const tmpl_filter *f, const char *what, tnode *n, tnodes *args,
                     tnodes *kwargs) {
        size_t nparams = 0, npos = 0;
        while (nparams < TMPL_MAX_PARAMS && f->params[nparams])
                if (f->params[nparams++][0] != '*')
                        npos = nparams;
        if (args->n > npos)
                return perr(p, at, "%s '%s' takes at most %zu positional argument%s (%zu given)", what, f->name, npos,
                            npos == 1 ? "" : "s", args->n);
        n->list.v = calloc(MAX(nparams, (size_t) 1), sizeof(tnode *));
        if (!n->list.v)
                return -ENOMEM;
        n->list.n = nparams;
        for (size_t i = 0; i < args->n; i++)
                n->list.v[i] = TAKE_PTR(args->v[i]);
        for (size_t k = 0; k < kwargs->n; k++) {
                tnode *kw = kwargs->v[k];
                size_t i = 0;
                while (i < nparams && !streq(f->params[i] + (f->params[i][0] == '*'), kw->name))
                        i++;
                if (i == nparams)
                        return perr(p, &(ttok){ .line = kw->line, .col = kw->col }, "%s '%s' has no parameter '%s'",
                                    what, f->name, kw->name);
                if (n->list.v[i])
                        return perr(p, &(ttok){ .line = kw->line, .col = kw->col },
                                    "%s '%s' got multiple values for '%s'", what, f->name, kw->name);
                n->list.v[i] = TAKE_PTR(kw->a);
        }
        return 0;
}

static int parse_filter_args(parser *p, const ttok *at, const tmpl_filter *f, const char *what, tnode *n) {
        tnodes args = {}, kwargs = {};
        int r = 0;

        if (tok_is_op(cur(p), OP_LPAREN))
                r = parse_call_args(p, &args, &kwargs);
        if (r >= 0)
                r = bind_args(p, at, f, what, n, &args, &kwargs);
        tnodes_done(&args);
        tnodes_done(&kwargs);
        return r;
}

static int parse_filter(parser *p, tnode **node, bool start_inline) {
        int r;

        while (tok_is_op(cur(p), OP_PIPE) || start_inline) {
                if (!start_inline)
                        next(p);
                start_inline = false;
                const ttok *t = cur(p);
                if (t->kind != TT_NAME)
                        return unexpected(p, "a filter name");
                _cleanup_free_ char *name = tok_strdup(t);
                if (!name)
                        return -ENOMEM;
                int idx = -1;
                const tmpl_filter *f = tmpl_find_filter(name, &idx);
                next(p);
                _cleanup_(tnode_freep) tnode *n = node_new(TN_FILTER, t);
                if (!n)
                        return -ENOMEM;
                n->op = idx;
                if (!f) {
                        n->name = TAKE_PTR(name);
                        r = tok_is_op(cur(p), OP_LPAREN) ? parse_call_args(p, &n->list, &n->kw) : 0;
                } else
                        r = parse_filter_args(p, t, f, "filter", n);
                if (r < 0)
                        return r;
                n->a = TAKE_PTR(*node);
                *node = TAKE_PTR(n);
        }
        return 0;
}

static bool test_arg_follows(const ttok *t) {
        if (t->kind == TT_NAME)
                return !tok_is_name(t, "else") && !tok_is_name(t, "or") && !tok_is_name(t, "and");
        return t->kind == TT_STRING || t->kind == TT_INTEGER || t->kind == TT_FLOAT || tok_is_op(t, OP_LPAREN) ||
               tok_is_op(t, OP_LBRACKET) || tok_is_op(t, OP_LBRACE);
}

/* A test's arguments: "(...)", or one primary without parentheses ("is divisibleby 3"). */
static int parse_test_args(parser *p, tnodes *args, tnodes *kwargs) {
        tnode *arg = NULL;
        int r;

        if (tok_is_op(cur(p), OP_LPAREN))
                return parse_call_args(p, args, kwargs);
        if (!test_arg_follows(cur(p)))
                return 0;
        if (tok_is_name(cur(p), "is"))
                return perr(p, cur(p), "you cannot chain multiple tests with 'is'");
        if ((r = parse_primary(p, &arg)) < 0 || (r = tnodes_push(args, arg)) < 0)
                return r;
        return parse_postfix(p, &args->v[0]);
}

static int parse_test(parser *p, tnode **node) {
        const ttok *is = next(p);
        bool negated = false;
        tnodes args = {}, kwargs = {};
        int r, idx;

        if (tok_is_name(cur(p), "not")) {
                next(p);
                negated = true;
        }
        const ttok *t = cur(p);
        if (t->kind != TT_NAME)
                return unexpected(p, "a test name");
        _cleanup_free_ char *name = tok_strdup(t);
        if (!name)
                return -ENOMEM;
        const tmpl_filter *f = tmpl_find_test(name, &idx);
        next(p);
        _cleanup_(tnode_freep) tnode *n = node_new(TN_TEST, t);
        if (!n)
                return -ENOMEM;
        n->op = f ? idx : -1;
        r = parse_test_args(p, &args, &kwargs);
        if (r >= 0 && f)
                r = bind_args(p, t, f, "test", n, &args, &kwargs);
        else if (r >= 0) {
                n->name = TAKE_PTR(name);
                n->list = args;
                n->kw = kwargs;
                args = kwargs = (tnodes){};
        }
        tnodes_done(&args);
        tnodes_done(&kwargs);
        if (r < 0)
                return r;
        n->a = TAKE_PTR(*node);
        if (negated) {
                tnode *no = node_new(TN_NOT, is);
                if (!no)
                        return -ENOMEM;
                no->a = TAKE_PTR(n);
                n = no;
        }
        *node = TAKE_PTR(n);
        return 0;
}

static int parse_filter_expr(parser *p, tnode **node) {
        int r = 0;
        for (;;) {
                const ttok *t = cur(p);
                if (tok_is_op(t, OP_PIPE))
                        r = parse_filter(p, node, false);
                else if (tok_is_name(t, "is"))
                        r = parse_test(p, node);
                else if (tok_is_op(t, OP_LPAREN))
                        r = parse_call(p, node);
                else
                        return 0;
                if (r < 0)
                        return r;
        }
}

static int parse_unary(parser *p, bool with_filter, tnode **ret) {
        _cleanup_(tnode_freep) tnode *n = NULL;
        const ttok *t = cur(p);
        int r;

        if ((r = enter(p)) < 0)
                return r;
        if (tok_is_op(t, OP_SUB) || tok_is_op(t, OP_ADD)) {
                next(p);
                n = node_new(t->op == OP_SUB ? TN_NEG : TN_POS, t);
                if (!n)
                        r = -ENOMEM;
                else
                        r = parse_unary(p, false, &n->a);
        } else
                r = parse_primary(p, &n);
        if (r >= 0)
                r = parse_postfix(p, &n);
        if (r >= 0 && with_filter)
                r = parse_filter_expr(p, &n);
        p->depth--;
        if (r < 0)
                return r;
        *ret = TAKE_PTR(n);
        return 0;
}

typedef int (*parse_fn)(parser *p, tnode **ret);

/* left (op right)* for the given operators, left associative. */
static int parse_binary(parser *p, parse_fn sub, const top *ops, size_t n_ops, tnode **ret) {
        _cleanup_(tnode_freep) tnode *left = NULL;
        int r;

        if ((r = sub(p, &left)) < 0)
                return r;
        for (;;) {
                const ttok *t = cur(p);
                size_t k = 0;
                while (k < n_ops && !tok_is_op(t, ops[k]))
                        k++;
                if (k == n_ops)
                        break;
                tnode *right = NULL;
                next(p);
                if ((r = sub(p, &right)) < 0)
                        return r;
                if ((r = make_binary(TN_BINOP, t->op, t, &left, right)) < 0)
                        return r;
        }
        *ret = TAKE_PTR(left);
        return 0;
}

static int parse_unary_filtered(parser *p, tnode **ret) {
        return parse_unary(p, true, ret);
}

static int parse_pow(parser *p, tnode **ret) {
        static const top ops[] = { OP_POW };
        return parse_binary(p, parse_unary_filtered, ops, ELEMENTSOF(ops), ret);
}

static int parse_math2(parser *p, tnode **ret) {
        static const top ops[] = { OP_MUL, OP_DIV, OP_FLOORDIV, OP_MOD };
        return parse_binary(p, parse_pow, ops, ELEMENTSOF(ops), ret);
}

static int parse_concat(parser *p, tnode **ret) {
        _cleanup_(tnode_freep) tnode *first = NULL, *n = NULL;
        int r;

        if ((r = parse_math2(p, &first)) < 0)
                return r;
        if (!tok_is_op(cur(p), OP_TILDE)) {
                *ret = TAKE_PTR(first);
                return 0;
        }
        n = node_new(TN_CONCAT, cur(p));
        if (!n || (r = tnodes_push(&n->list, TAKE_PTR(first))) < 0)
                return -ENOMEM;
        while (tok_is_op(cur(p), OP_TILDE)) {
                tnode *e = NULL;
                next(p);
                if ((r = parse_math2(p, &e)) < 0 || (r = tnodes_push(&n->list, e)) < 0)
                        return r;
        }
        *ret = TAKE_PTR(n);
        return 0;
}

static int parse_math1(parser *p, tnode **ret) {
        static const top ops[] = { OP_ADD, OP_SUB };
        return parse_binary(p, parse_concat, ops, ELEMENTSOF(ops), ret);
}

/* The comparison operator at the cursor (consumed), or -1. */
static int compare_op(parser *p) {
        const ttok *t = cur(p);
        if (t->kind == TT_OP && (t->op == OP_EQ || t->op == OP_NE || t->op == OP_LT || t->op == OP_LTEQ ||
                                 t->op == OP_GT || t->op == OP_GTEQ)) {
                next(p);
                return t->op;
        }
        if (tok_is_name(t, "in")) {
                next(p);
                return OP_IN;
        }
        if (tok_is_name(t, "not") && tok_is_name(peek(p), "in")) {
                next(p), next(p);
                return OP_NOTIN;
        }
        return -1;
}

static int parse_compare(parser *p, tnode **ret) {
        _cleanup_(tnode_freep) tnode *first = NULL, *n = NULL;
        const ttok *at = cur(p);
        int r, op;

        if ((r = parse_math1(p, &first)) < 0)
                return r;
        while ((op = compare_op(p)) >= 0) {
                tnode *e = NULL;
                if (!n) {
                        n = node_new(TN_COMPARE, at);
                        if (!n || (r = tnodes_push(&n->list, TAKE_PTR(first))) < 0)
                                return -ENOMEM;
                }
                int *ops = reallocarray(n->ops, n->list.n, sizeof *ops);
                if (!ops)
                        return -ENOMEM;
                n->ops = ops;
                n->ops[n->list.n - 1] = op;
                if ((r = parse_math1(p, &e)) < 0 || (r = tnodes_push(&n->list, e)) < 0)
                        return r;
        }
        *ret = n ? TAKE_PTR(n) : TAKE_PTR(first);
        return 0;
}

static int parse_not(parser *p, tnode **ret) {
        const ttok *t = cur(p);
        int r;

        if (!tok_is_name(t, "not"))
                return parse_compare(p, ret);
        if ((r = enter(p)) < 0)
                return r;
        next(p);
        _cleanup_(tnode_freep) tnode *n = node_new(TN_NOT, t);
        r = n ? parse_not(p, &n->a) : -ENOMEM;
        p->depth--;
        if (r < 0)
                return r;
        *ret = TAKE_PTR(n);
        return 0;
}

static int parse_logic(parser *p, const char *word, tnode_kind kind, parse_fn sub, tnode **ret) {
        _cleanup_(tnode_freep) tnode *left = NULL;
        int r;

        if ((r = sub(p, &left)) < 0)
                return r;
        while (tok_is_name(cur(p), word)) {
                const ttok *t = next(p);
                tnode *right = NULL;
                if ((r = sub(p, &right)) < 0 || (r = make_binary(kind, 0, t, &left, right)) < 0)
                        return r;
        }
        *ret = TAKE_PTR(left);
        return 0;
}

static int parse_and(parser *p, tnode **ret) {
        return parse_logic(p, "and", TN_AND, parse_not, ret);
}

static int parse_or(parser *p, tnode **ret) {
        return parse_logic(p, "or", TN_OR, parse_and, ret);
}

static int parse_condexpr(parser *p, tnode **ret) {
        _cleanup_(tnode_freep) tnode *e1 = NULL;
        int r;

        if ((r = parse_or(p, &e1)) < 0)
                return r;
        while (tok_is_name(cur(p), "if")) {
                tnode *n = node_new(TN_COND, next(p));
                if (!n)
                        return -ENOMEM;
                n->b = TAKE_PTR(e1);
                e1 = n;
                if ((r = parse_or(p, &n->a)) < 0)
                        return r;
                if (tok_is_name(cur(p), "else")) {
                        next(p);
                        if ((r = parse_condexpr(p, &n->c)) < 0)
                                return r;
                }
        }
        *ret = TAKE_PTR(e1);
        return 0;
}

static int parse_expression(parser *p, bool with_condexpr, tnode **ret) {
        int r;

        if ((r = enter(p)) < 0)
                return r;
        r = with_condexpr ? parse_condexpr(p, ret) : parse_or(p, ret);
        p->depth--;
        return r;
}

static bool is_tuple_end(parser *p, const char *extra_end) {
        const ttok *t = cur(p);
        return t->kind == TT_VAR_END || t->kind == TT_BLOCK_END || tok_is_op(t, OP_RPAREN) ||
               (extra_end && tok_is_name(t, extra_end));
}

/* What one element of a comma-separated list is: an expression, or an assignment target. */
typedef int (*element_parser)(parser *p, bool with_condexpr, tnode **ret);

/* Elements separated by commas, up to is_tuple_end(): a TN_TUPLE when there is a comma (or nothing
 * between explicit parentheses: "()"), the element itself when there is one and no comma; nothing at all
 * is an error naming `what`. */
static int parse_comma_list(parser *p, element_parser element, bool with_condexpr, const char *extra_end,
                            bool empty_is_tuple, const char *what, tnode **ret) {
        _cleanup_(tnode_freep) tnode *n = node_new(TN_TUPLE, cur(p));
        bool is_tuple = false;
        int r;

        if (!n)
                return -ENOMEM;
        for (;;) {
                tnode *e = NULL;
                if (n->list.n > 0 && (r = expect_op(p, OP_COMMA)) < 0)
                        return r;
                if (is_tuple_end(p, extra_end))
                        break;
                if ((r = element(p, with_condexpr, &e)) < 0 || (r = tnodes_push(&n->list, e)) < 0)
                        return r;
                if (!tok_is_op(cur(p), OP_COMMA))
                        break;
                is_tuple = true;
        }
        if (!is_tuple) {
                if (n->list.n == 1) {
                        *ret = TAKE_PTR(n->list.v[0]);
                        return 0;
                }
                if (!empty_is_tuple)
                        return unexpected(p, what);
        }
        *ret = TAKE_PTR(n);
        return 0;
}

static int parse_tuple(parser *p, bool with_condexpr, const char *extra_end, bool explicit_parens, tnode **ret) {
        return parse_comma_list(p, parse_expression, with_condexpr, extra_end, explicit_parens, "an expression", ret);
}

/* ------------------------------------------------------------ statements */

static bool is_const_name(const ttok *t) {
        return tok_is_name(t, "true") || tok_is_name(t, "false") || tok_is_name(t, "none") || tok_is_name(t, "True") ||
               tok_is_name(t, "False") || tok_is_name(t, "None");
}

static int parse_target_tuple(parser *p, tnode **ret);

/* A name, or a parenthesized target. */
static int parse_target_primary(parser *p, tnode **ret) {
        const ttok *t = cur(p);
        int r;

        if (tok_is_op(t, OP_LPAREN)) {
                if ((r = enter(p)) < 0)
                        return r;
                next(p);
                r = parse_target_tuple(p, ret);
                p->depth--;
                if (r < 0)
                        return r;
                if ((r = expect_op(p, OP_RPAREN)) < 0) {
                        tnode_free(*ret);
                        *ret = NULL;
                }
                return r;
        }
        if (t->kind != TT_NAME)
                return unexpected(p, "a variable name");
        if (is_const_name(t))
                return perr(p, t, "can't assign to a constant");
        tnode *n = node_new(TN_NAME, t);
        if (!n || !(n->name = tok_strdup(t))) {
                tnode_free(n);
                return -ENOMEM;
        }
        next(p);
        *ret = n;
        return 0;
}

static int parse_target_element(parser *p, bool with_condexpr, tnode **ret) {
        (void) with_condexpr;
        return parse_target_primary(p, ret);
}

/* Jinja's parse_assign_target(): a name, or names and parenthesized
 * targets separated by commas (a TN_TUPLE of them, unpacked on assignment). */
static int parse_target_tuple(parser *p, tnode **ret) {
        return parse_comma_list(p, parse_target_element, false, NULL, false, "a variable name", ret);
}

static int parse_targets(parser *p, tnodes *targets) {
        tnode *t = NULL;
        int r = parse_target_tuple(p, &t);
        if (r < 0)
                return r;
        return tnodes_push(targets, t);
}

static const tnode *find_name(const tnode *n, const char *name) {
        if (n->kind == TN_NAME)
                return streq(n->name, name) ? n : NULL;
        for (size_t i = 0; i < n->list.n; i++) {
                const tnode *f = find_name(n->list.v[i], name);
                if (f)
                        return f;
        }
        return NULL;
}

static int expect_end_name(parser *p, const char *name) {
        char want[32];
        if (tok_is_name(cur(p), name)) {
                next(p);
                return 0;
        }
        snprintf(want, sizeof want, "'%s'", name);
        return unexpected(p, want);
}

/* "%}" then a body up to one of ends (left as the current token). */
static int parse_statements(parser *p, const char *const *ends, tnodes *body) {
        int r;
        if (tok_is_op(cur(p), OP_COLON))
                next(p);
        if ((r = expect_kind(p, TT_BLOCK_END)) < 0)
                return r;
        return parse_body(p, ends, body);
}

static bool refers_to_loop(const tnodes *l);

static bool node_refers_to_loop(const tnode *n) {
        if (!n)
                return false;
        if (n->kind == TN_NAME && streq(n->name, "loop"))
                return true;
        return node_refers_to_loop(n->a) || node_refers_to_loop(n->b) || node_refers_to_loop(n->c) ||
               refers_to_loop(&n->list) || refers_to_loop(&n->kw) || refers_to_loop(&n->body) ||
               refers_to_loop(&n->else_body);
}

static bool refers_to_loop(const tnodes *l) {
        for (size_t i = 0; i < l->n; i++)
                if (node_refers_to_loop(l->v[i]))
                        return true;
        return false;
}

static int parse_for(parser *p, tnode *n) {
        static const char *const ends[] = { "endfor", "else", NULL }, *const ends2[] = { "endfor", NULL };
        int r;

        if ((r = parse_targets(p, &n->list)) < 0)
                return r;
        const tnode *loop = find_name(n->list.v[0], "loop");
        if (loop)
                return perr(p, &(ttok){ .line = loop->line, .col = loop->col },
                            "can't assign to special loop variable in for-loop target");
        if ((r = expect_end_name(p, "in")) < 0 || (r = parse_tuple(p, false, "recursive", false, &n->a)) < 0)
                return r;
        if (tok_is_name(cur(p), "if")) {
                next(p);
                if ((r = parse_expression(p, true, &n->b)) < 0)
                        return r;
        }
        if (tok_is_name(cur(p), "recursive"))
                return perr(p, cur(p), "recursive loops are not supported by kiln");
        if ((r = parse_statements(p, ends, &n->body)) < 0)
                return r;
        if (tok_is_name(next(p), "else") && (r = parse_statements(p, ends2, &n->else_body)) >= 0)
                next(p);
        n->flag = refers_to_loop(&n->body) || node_refers_to_loop(n->b);
        return r;
}

static int parse_if(parser *p, tnode *n) {
        static const char *const ends[] = { "elif", "else", "endif", NULL }, *const ends2[] = { "endif", NULL };
        int r;

        for (;;) {
                if ((r = parse_tuple(p, false, NULL, false, &n->a)) < 0 || (r = parse_statements(p, ends, &n->body)) < 0)
                        return r;
                const ttok *t = next(p);
                if (tok_is_name(t, "elif")) {
                        tnode *elif = node_new(TN_IF, t);
                        if (!elif || (r = tnodes_push(&n->else_body, elif)) < 0)
                                return -ENOMEM;
                        n = elif;
                        continue;
                }
                if (tok_is_name(t, "else") && (r = parse_statements(p, ends2, &n->else_body)) >= 0)
                        next(p);
                return r;
        }
}

static int parse_set(parser *p, tnode *n) {
        static const char *const ends[] = { "endset", NULL };
        int r;

        if (cur(p)->kind == TT_NAME && tok_is_op(peek(p), OP_DOT))
                return perr(p, cur(p), "namespace assignments are not supported by kiln");
        if ((r = parse_targets(p, &n->list)) < 0)
                return r;
        if (tok_is_op(cur(p), OP_ASSIGN)) {
                next(p);
                return parse_tuple(p, true, NULL, false, &n->a);
        }
        if (n->list.v[0]->kind != TN_NAME)
                return perr(p, cur(p), "a block set assigns exactly one name");
        n->kind = TN_SET_BLOCK;
        if (tok_is_op(cur(p), OP_PIPE) && (r = parse_filter(p, &n->b, false)) < 0)
                return r;
        if ((r = parse_statements(p, ends, &n->body)) < 0)
                return r;
        next(p);
        return 0;
}

static int parse_include(parser *p, tnode *n) {
        int r;

        if ((r = parse_expression(p, true, &n->a)) < 0)
                return r;
        if (tok_is_name(cur(p), "ignore") && tok_is_name(peek(p), "missing")) {
                n->flag = true;
                next(p), next(p);
        }
        n->flag2 = true;
        if ((tok_is_name(cur(p), "with") || tok_is_name(cur(p), "without")) && tok_is_name(peek(p), "context")) {
                n->flag2 = tok_is_name(cur(p), "with");
                next(p), next(p);
        }
        return 0;
}

static int parse_with(parser *p, tnode *n) {
        static const char *const ends[] = { "endwith", NULL };
        int r;

        while (cur(p)->kind != TT_BLOCK_END) {
                tnode *e = NULL;
                if (n->list.n > 0 && (r = expect_op(p, OP_COMMA)) < 0)
                        return r;
                if ((r = parse_targets(p, &n->list)) < 0 || (r = expect_op(p, OP_ASSIGN)) < 0 ||
                    (r = parse_expression(p, true, &e)) < 0 || (r = tnodes_push(&n->kw, e)) < 0)
                        return r;
        }
        if ((r = parse_statements(p, ends, &n->body)) < 0)
                return r;
        next(p);
        return 0;
}

static int parse_filter_block(parser *p, tnode *n) {
        static const char *const ends[] = { "endfilter", NULL };
        int r;

        if ((r = parse_filter(p, &n->b, true)) < 0 || (r = parse_statements(p, ends, &n->body)) < 0)
                return r;
        next(p);
        return 0;
}

static int parse_print(parser *p, tnodes *body) {
        int r;
        while (cur(p)->kind != TT_BLOCK_END) {
                _cleanup_(tnode_freep) tnode *n = node_new(TN_OUTPUT, cur(p));
                if (body->n > 0 && (r = expect_op(p, OP_COMMA)) < 0)
                        return r;
                if (!n)
                        return -ENOMEM;
                if ((r = parse_expression(p, true, &n->a)) < 0 || (r = tnodes_push(body, TAKE_PTR(n))) < 0)
                        return r;
        }
        return 0;
}

static const struct {
        const char *tag;
        tnode_kind kind;
        int (*parse)(parser *p, tnode *n);
} statements[] = {
        { "if", TN_IF, parse_if },
        { "for", TN_FOR, parse_for },
        { "set", TN_SET, parse_set },
        { "include", TN_INCLUDE, parse_include },
        { "with", TN_WITH, parse_with },
        { "filter", TN_FILTER_BLOCK, parse_filter_block },
};

static int unknown_tag(parser *p, const ttok *t) {
        static const char *const unsupported[] = { "block", "extends", "macro", "call", "import", "from",
                                                   "autoescape", "do", "break", "continue", "trans" };
        _cleanup_free_ char *name = tok_strdup(t);
        if (!name)
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(unsupported); i++)
                if (streq(name, unsupported[i]))
                        return perr(p, t, "tag '%s' is not supported by kiln's template engine", name);
        if (p->n_open > 0) {
                const ttok *o = p->open[p->n_open - 1];
                return perr(p, t, "unexpected tag '%s'; the innermost open block is '%.*s' at %u:%u", name,
                            (int) o->len, o->text, o->line, o->col);
        }
        return perr(p, t, "unknown tag '%s'", name);
}

/* One "{% ... %}" statement; the "{%" is consumed, "%}" is left. */
static int parse_statement(parser *p, tnodes *body) {
        const ttok *t = cur(p);
        int r;

        if (t->kind != TT_NAME)
                return unexpected(p, "a tag name");
        if (tok_is_name(t, "print")) {
                next(p);
                return parse_print(p, body);
        }
        for (size_t i = 0; i < ELEMENTSOF(statements); i++) {
                if (!tok_is_name(t, statements[i].tag))
                        continue;
                _cleanup_(tnode_freep) tnode *n = node_new(statements[i].kind, t);
                if (!n)
                        return -ENOMEM;
                if ((r = enter(p)) < 0)
                        return r;
                p->open[p->n_open++] = t;
                next(p);
                r = statements[i].parse(p, n);
                p->n_open--;
                p->depth--;
                if (r < 0)
                        return r;
                return tnodes_push(body, TAKE_PTR(n));
        }
        return unknown_tag(p, t);
}

static bool is_end(const ttok *t, const char *const *ends) {
        for (size_t i = 0; ends && ends[i]; i++)
                if (tok_is_name(t, ends[i]))
                        return true;
        return false;
}

static int end_of_template(parser *p, const char *const *ends) {
        const ttok *o = p->open[p->n_open - 1];
        const char *closing = ends[0];
        for (size_t i = 0; ends[i]; i++)
                if (startswith(ends[i], "end"))
                        closing = ends[i];
        return perr(p, cur(p), "unexpected end of template: '%.*s' at %u:%u is not closed (expected '%s')",
                    (int) o->len, o->text, o->line, o->col, closing);
}

static int parse_data(parser *p, tnodes *body) {
        const ttok *t = next(p);
        tnode *n = node_new(TN_DATA, t);
        if (!n || !(n->name = malloc(t->len + 1))) { /* memcpy: the text may hold NUL bytes */
                tnode_free(n);
                return -ENOMEM;
        }
        memcpy(n->name, t->text, t->len);
        n->name[t->len] = 0;
        n->len = t->len;
        return tnodes_push(body, n);
}

static int parse_output(parser *p, tnodes *body) {
        _cleanup_(tnode_freep) tnode *n = node_new(TN_OUTPUT, next(p));
        int r;
        if (!n)
                return -ENOMEM;
        if ((r = parse_tuple(p, true, NULL, false, &n->a)) < 0 || (r = expect_kind(p, TT_VAR_END)) < 0)
                return r;
        return tnodes_push(body, TAKE_PTR(n));
}

/* Jinja's subparse(): data, prints and statements until one of ends. */
static int parse_body(parser *p, const char *const *ends, tnodes *ret) {
        int r;

        for (;;) {
                const ttok *t = cur(p);
                if (t->kind == TT_EOF)
                        return ends ? end_of_template(p, ends) : 0;
                if (t->kind == TT_DATA)
                        r = parse_data(p, ret);
                else if (t->kind == TT_VAR_BEGIN)
                        r = parse_output(p, ret);
                else if (t->kind == TT_BLOCK_BEGIN) {
                        next(p);
                        if (is_end(cur(p), ends))
                                return 0;
                        if ((r = parse_statement(p, ret)) >= 0)
                                r = expect_kind(p, TT_BLOCK_END);
                } else
                        r = unexpected(p, "template data or a tag");
                if (r < 0)
                        return r;
        }
}

/* Jinja resolves filters and tests at compile time, except inside `if`
 * blocks and inline ifs ("soft" frames, where `x is filter` guards may make
 * them legitimately unknown): there an unknown one fails only when run. */
static int check_unknown(parser *p, const tnode *n, bool soft);

static int check_list(parser *p, const tnodes *l, bool soft) {
        int r;
        for (size_t i = 0; i < l->n; i++)
                if ((r = check_unknown(p, l->v[i], soft)) < 0)
                        return r;
        return 0;
}

static int check_unknown(parser *p, const tnode *n, bool soft) {
        bool inner = soft;
        int r;

        if (!n)
                return 0;
        if ((n->kind == TN_FILTER || n->kind == TN_TEST) && n->op < 0 && !soft) {
                bool filter = n->kind == TN_FILTER;
                return perr(p, &(ttok){ .line = n->line, .col = n->col },
                            filter && tmpl_filter_is_unsupported(n->name) ? "filter '%s' is not supported by kiln" :
                                                                             filter ? "no filter named '%s'" :
                                                                                      "no test named '%s'",
                            n->name);
        }
        if (n->kind == TN_IF || n->kind == TN_COND)
                inner = true;
        else if (n->kind == TN_FOR || n->kind == TN_WITH || n->kind == TN_SET_BLOCK || n->kind == TN_FILTER_BLOCK)
                inner = false;
        /* the parts evaluated in the enclosing frame */
        bool outer_a = n->kind == TN_FOR, outer_kw = n->kind == TN_WITH;
        if ((r = check_unknown(p, n->a, outer_a ? soft : inner)) < 0 || (r = check_unknown(p, n->b, inner)) < 0 ||
            (r = check_unknown(p, n->c, inner)) < 0 || (r = check_list(p, &n->list, inner)) < 0 ||
            (r = check_list(p, &n->kw, outer_kw ? soft : inner)) < 0 || (r = check_list(p, &n->body, inner)) < 0 ||
            (r = check_list(p, &n->else_body, inner)) < 0)
                return r;
        return 0;
}

int tmpl_parse_tokens(ttoks *toks, const char *name, tnodes *ret, diags *d) {
        parser p = { .t = toks, .name = name, .d = d };
        tnodes body = {};
        int r = parse_body(&p, NULL, &body);
        if (r >= 0)
                r = check_list(&p, &body, false);
        if (r < 0) {
                tnodes_done(&body);
                return r;
        }
        *ret = body;
        return 0;
}
