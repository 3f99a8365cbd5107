/* template-render.c — statements → output; scopes, includes, and the public API.
 *
 * Rendering walks the tree once, appending to one buffer; on any error the
 * buffer is dropped, so a caller never sees half a config file.  Scoping
 * follows Jinja2 3.1 as observed, not as guessed:
 *   - `set` at top level (or inside `if`) is visible afterwards;
 *   - a `for` body is a scope that starts empty on every iteration (a `set`
 *     inside it neither leaks out nor survives to the next iteration), and
 *     its loop variables shadow outer names;
 *   - `with`, `filter` and block `set` bodies are scopes; `with` values are
 *     evaluated before any is bound;
 *   - an included template sees the includer's variables and loop
 *     variables but not `loop`, and its `set`s stay inside it;
 *     `without context` sees none of them (only globals such as range).
 * Includes are read with openat2(RESOLVE_BENEATH) relative to the template
 * directory, so neither "..", an absolute name, nor a symlink can leave it;
 * each included file is parsed once per render and cached.
 */
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "fileio.h"
#include "template-internal.h"

static int render_body(tctx *c, const tnodes *body);

/* ------------------------------------------------------------------ frames */

static void frame_clear(tframe *f) {
        for (size_t i = 0; i < f->n; i++) {
                free(f->v[i].name);
                tval_done(&f->v[i].v);
        }
        f->n = 0;
}

static void frame_done(tframe *f) {
        frame_clear(f);
        free(f->v);
        f->v = NULL;
        f->cap = 0;
}

/* Binds name in frame f to *v (taken). */
static int frame_set(tframe *f, const char *name, tval *v) {
        for (size_t i = 0; i < f->n; i++)
                if (streq(f->v[i].name, name)) {
                        tval_done(&f->v[i].v);
                        f->v[i].v = tval_take(v);
                        return 0;
                }
        if (f->n == f->cap) {
                size_t cap = MAX(f->cap * 2, (size_t) 8);
                tvar *nv = reallocarray(f->v, cap, sizeof *nv);
                if (!nv)
                        return -ENOMEM;
                f->v = nv;
                f->cap = cap;
        }
        char *dup = strdup(name);
        if (!dup)
                return -ENOMEM;
        f->v[f->n++] = (tvar){ .name = dup, .v = tval_take(v) };
        return 0;
}

/* Binds target (a name, or a tuple of targets to unpack into) to *v (taken). */
static int assign(tctx *c, const tnode *at, const tnode *target, tval *v) {
        _cleanup_json_ json_t *items = NULL;
        int r;

        if (target->kind == TN_NAME)
                return frame_set(c->frame, target->name, v);
        if ((r = tval_require(c, v)) < 0 || (r = tmpl_iterate(c, at, v->j, &items)) < 0)
                return r;
        size_t n = json_array_size(items), want = target->list.n;
        if (n > want)
                return tctx_error(c, at, "too many values to unpack (expected %zu)", want);
        if (n < want)
                return tctx_error(c, at, "not enough values to unpack (expected %zu, got %zu)", want, n);
        for (size_t i = 0; i < n; i++) {
                tval e = { .j = json_incref(json_array_get(items, i)) };
                r = assign(c, at, target->list.v[i], &e);
                tval_done(&e);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ------------------------------------------------------------------ output */

static int out_error(tctx *c, const tnode *n, int r) {
        if (r == -E2BIG)
                return tctx_error(c, n, "output exceeds the limit of %zu bytes", c->max_output);
        return r;
}

static int render_output(tctx *c, const tnode *n) {
        _cleanup_tval_ tval v = {};
        int r;

        if ((r = tmpl_eval(c, n->a, &v)) < 0)
                return r;
        if (!v.j && v.lenient)
                return 0;
        if ((r = tval_require(c, &v)) < 0)
                return r;
        return out_error(c, n, tmpl_str(c, c->out, v.j));
}

/* Renders body, in a scope of its own, into a string value (block set, filter block). */
static int capture(tctx *c, const tnode *n, tval *ret) {
        _cleanup_tbuf_ tbuf b = { .max = c->max_output };
        tbuf *saved = c->out;
        tframe f = { .up = c->frame };
        int r;

        c->out = &b;
        c->frame = &f;
        r = render_body(c, &n->body);
        c->frame = f.up;
        frame_done(&f);
        c->out = saved;
        if (r < 0)
                return r;
        return tctx_string(c, n, b.data, b.len, ret);
}

static int render_set_block(tctx *c, const tnode *n) {
        _cleanup_tval_ tval v = {}, f = {};
        int r;

        if ((r = capture(c, n, &v)) < 0)
                return r;
        if (!n->b)
                return assign(c, n, n->list.v[0], &v);
        if ((r = tmpl_eval_filter(c, n->b, &v, &f)) < 0)
                return r;
        return assign(c, n, n->list.v[0], &f);
}

static int render_filter_block(tctx *c, const tnode *n) {
        _cleanup_tval_ tval v = {}, f = {};
        int r;

        if ((r = capture(c, n, &v)) < 0 || (r = tmpl_eval_filter(c, n->b, &v, &f)) < 0)
                return r;
        return tmpl_str_tval(c, n, c->out, &f);
}

static int render_set(tctx *c, const tnode *n) {
        _cleanup_tval_ tval v = {};
        int r;

        if ((r = tmpl_eval(c, n->a, &v)) < 0)
                return r;
        return assign(c, n, n->list.v[0], &v);
}

static int render_if(tctx *c, const tnode *n) {
        _cleanup_tval_ tval v = {};
        bool t;
        int r;

        if ((r = tmpl_eval(c, n->a, &v)) < 0 || (r = tmpl_truthy_tval(c, &v, &t)) < 0)
                return r;
        return render_body(c, t ? &n->body : &n->else_body);
}

static int render_with(tctx *c, const tnode *n) {
        tval vals[n->kw.n ? n->kw.n : 1];
        tframe f = { .up = c->frame };
        int r = 0;

        memset(vals, 0, sizeof vals);
        for (size_t i = 0; i < n->kw.n && r >= 0; i++)
                r = tmpl_eval(c, n->kw.v[i], &vals[i]);
        c->frame = &f;
        for (size_t i = 0; i < n->list.n && r >= 0; i++)
                r = assign(c, n, n->list.v[i], &vals[i]);
        if (r >= 0)
                r = render_body(c, &n->body);
        c->frame = f.up;
        frame_done(&f);
        for (size_t i = 0; i < n->kw.n; i++)
                tval_done(&vals[i]);
        return r;
}

/* -------------------------------------------------------------------- for */

static int set_int(json_t *o, const char *k, int64_t v) {
        return json_object_set_new(o, k, json_integer(v));
}

/* Jinja's LoopContext as a dict: index, index0, revindex(0), first, last, length, depth(0), previtem, nextitem. */
static int bind_loop(tctx *c, json_t *items, size_t i) {
        size_t len = json_array_size(items);
        tval v = { .j = json_object() };
        int r = 0;

        if (!v.j)
                return -ENOMEM;
        if (set_int(v.j, "index", i + 1) < 0 || set_int(v.j, "index0", i) < 0 || set_int(v.j, "revindex", len - i) < 0 ||
            set_int(v.j, "revindex0", len - i - 1) < 0 || json_object_set_new(v.j, "first", json_boolean(i == 0)) < 0 ||
            json_object_set_new(v.j, "last", json_boolean(i + 1 == len)) < 0 || set_int(v.j, "length", len) < 0 ||
            set_int(v.j, "depth", 1) < 0 || set_int(v.j, "depth0", 0) < 0 ||
            (i > 0 && json_object_set(v.j, "previtem", json_array_get(items, i - 1)) < 0) ||
            (i + 1 < len && json_object_set(v.j, "nextitem", json_array_get(items, i + 1)) < 0))
                r = -ENOMEM;
        if (r >= 0)
                r = frame_set(c->frame, "loop", &v);
        tval_done(&v);
        return r;
}

/* Binds the loop targets to item in the (cleared) current frame. */
static int bind_item(tctx *c, const tnode *n, json_t *item) {
        tval v = { .j = json_incref(item) };
        int r = assign(c, n, n->list.v[0], &v);
        tval_done(&v);
        return r;
}

/* `for x in xs if cond`: the items for which cond holds (loop.length counts only them). */
static int filter_items(tctx *c, const tnode *n, json_t **items) {
        _cleanup_json_ json_t *out = json_array();
        tframe f = { .up = c->frame };
        size_t i;
        json_t *e;
        int r = 0;

        if (!out)
                return -ENOMEM;
        c->frame = &f;
        json_array_foreach(*items, i, e) {
                _cleanup_tval_ tval t = {};
                bool keep;
                frame_clear(&f);
                if ((r = tctx_charge(c, n, 1)) < 0 || (r = bind_item(c, n, e)) < 0 || (r = tmpl_eval(c, n->b, &t)) < 0 ||
                    (r = tmpl_truthy_tval(c, &t, &keep)) < 0)
                        break;
                if (keep && json_array_append(out, e) < 0) {
                        r = -ENOMEM;
                        break;
                }
        }
        c->frame = f.up;
        frame_done(&f);
        if (r < 0)
                return r;
        json_decref(*items);
        *items = TAKE_PTR(out);
        return 0;
}

static int render_for(tctx *c, const tnode *n) {
        _cleanup_tval_ tval it = {};
        _cleanup_json_ json_t *items = NULL;
        tframe f = { .up = c->frame };
        int r;

        if ((r = tmpl_eval(c, n->a, &it)) < 0)
                return r;
        if (!it.j && it.lenient)
                items = json_array();
        else if ((r = tval_require(c, &it)) < 0 || (r = tmpl_iterate(c, n->a, it.j, &items)) < 0)
                return r;
        if (!items || (n->b && (r = filter_items(c, n, &items)) < 0))
                return items ? r : -ENOMEM;
        size_t len = json_array_size(items);
        if (len == 0)
                return render_body(c, &n->else_body);
        c->frame = &f;
        for (size_t i = 0; i < len && r >= 0; i++) {
                frame_clear(&f);
                if ((r = tctx_charge(c, n, 1)) >= 0 && (r = bind_item(c, n, json_array_get(items, i))) >= 0 &&
                    (!n->flag || (r = bind_loop(c, items, i)) >= 0))
                        r = render_body(c, &n->body);
        }
        c->frame = f.up;
        frame_done(&f);
        return r;
}

/* ---------------------------------------------------------------- include */

static int check_include_name(tctx *c, const tnode *n, json_t *name) {
        const char *s = jstr(name);

        if (jlen(name) == 0 || strlen(s) != jlen(name))
                return tctx_error(c, n, "include name is empty or contains a NUL byte");
        if (s[0] == '/')
                return tctx_error(c, n, "include name '%s' is absolute; names are relative to the template directory", s);
        for (const char *p = s; *p;) {
                size_t len = strcspn(p, "/");
                if (len == 2 && p[0] == '.' && p[1] == '.')
                        return tctx_error(c, n, "include name '%s' leaves the template directory ('..')", s);
                p += len + (p[len] == '/');
        }
        return 0;
}

/* Fallback for kernels without openat2(): walk the path refusing every symlink. */
static int open_walk(int dirfd, const char *name) {
        _cleanup_free_ char *copy = strdup(name);
        _cleanup_close_ int cur = -EBADF;
        char *save = NULL, *next;

        if (!copy)
                return -ENOMEM;
        cur = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
        if (cur < 0)
                return negative_errno();
        for (char *p = strtok_r(copy, "/", &save); p; p = next) {
                next = strtok_r(NULL, "/", &save);
                if (streq(p, "."))
                        continue;
                int fd = openat(cur, p, (next ? O_PATH | O_DIRECTORY : O_RDONLY | O_NONBLOCK | O_NOCTTY) | O_NOFOLLOW |
                                                O_CLOEXEC);
                if (fd < 0)
                        return negative_errno();
                closep(&cur);
                cur = fd;
        }
        return TAKE_FD(cur);
}

static int open_beneath(int dirfd, const char *name) {
        struct open_how how = {
                .flags = O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC,
                .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
        };
        long fd = syscall(SYS_openat2, dirfd, name, &how, sizeof how);

        if (fd >= 0)
                return (int) fd;
        if (errno != ENOSYS)
                return negative_errno();
        return open_walk(dirfd, name);
}

static int open_include(tctx *c, const tnode *n, const char *name) {
        int fd;

        if (c->dirfd < 0) {
                c->dirfd = open(c->include_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
                if (c->dirfd < 0)
                        return tctx_error(c, n, "cannot open the template directory %s: %s", c->include_dir,
                                          strerror(errno));
        }
        fd = open_beneath(c->dirfd, name);
        if (fd == -ENOENT || fd == -ENOTDIR)
                return -ENOENT;
        if (fd == -EXDEV || fd == -ELOOP)
                return tctx_error(c, n, "include '%s' resolves outside the template directory (symlink?)", name);
        if (fd < 0)
                return tctx_error(c, n, "cannot open include '%s': %s", name, strerror(-fd));
        return fd;
}

static int read_include(tctx *c, const tnode *n, const char *name, char **ret, size_t *ret_len) {
        _cleanup_close_ int fd = open_include(c, n, name);
        struct stat st;
        int r;

        if (fd < 0)
                return fd;
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (!S_ISREG(st.st_mode))
                return tctx_error(c, n, "include '%s' is not a regular file", name);
        r = read_full_fd(fd, TMPL_MAX_SOURCE, ret, ret_len);
        if (r == -EFBIG)
                return tctx_error(c, n, "include '%s' is larger than %u bytes", name, TMPL_MAX_SOURCE);
        if (r < 0)
                return tctx_error(c, n, "cannot read include '%s': %s", name, strerror(-r));
        return 0;
}

/* The parsed include (cached per render); 1 when missing and ignored. */
static int load_include(tctx *c, const tnode *n, const char *name, tmpl **ret) {
        _cleanup_free_ char *text = NULL;
        size_t len;
        tmpl *t = NULL;
        int r;

        for (size_t i = 0; i < c->n_incl; i++)
                if (streq(c->incl[i].name, name)) {
                        *ret = c->incl[i].t;
                        return 0;
                }
        r = read_include(c, n, name, &text, &len);
        if (r == -ENOENT)
                return n->flag ? 1 : tctx_error(c, n, "template '%s' not found in %s", name, c->include_dir);
        if (r < 0)
                return r;
        tmpl_options o = { .name = name, .include_dir = c->include_dir, .max_include_depth = c->max_depth,
                           .max_output = c->max_output, .max_work = c->max_work,
                           .keep_trailing_newline = c->t->keep_trailing_newline };
        if ((r = tmpl_parse(text, len, &o, &t, c->d)) < 0)
                return r;
        tincl *v = reallocarray(c->incl, c->n_incl + 1, sizeof *v);
        char *dup = strdup(name);
        if (!v || !dup) {
                free(dup);
                if (v)
                        c->incl = v;
                tmpl_free(t);
                return -ENOMEM;
        }
        c->incl = v;
        c->incl[c->n_incl++] = (tincl){ .name = dup, .t = t };
        *ret = t;
        return 0;
}

static int render_include(tctx *c, const tnode *n) {
        _cleanup_tval_ tval name = {};
        tmpl *t = NULL;
        int r;

        if ((r = tmpl_eval_defined(c, n->a, &name)) < 0)
                return r;
        if (!json_is_string(name.j))
                return tctx_error(c, n, "include expects a template name (a string), not '%s'", tmpl_type_name(c, name.j));
        if (!c->include_dir)
                return tctx_error(c, n, "{%% include %%} is not available: no template directory is configured");
        if (c->depth >= c->max_depth)
                return tctx_error(c, n, "include depth exceeds %u (recursive include?)", c->max_depth);
        if ((r = check_include_name(c, n, name.j)) < 0 || (r = load_include(c, n, jstr(name.j), &t)) != 0)
                return r > 0 ? 0 : r;
        const tmpl *saved = c->t;
        tframe f = { .up = c->frame, .include_boundary = n->flag2, .isolated = !n->flag2 };
        c->frame = &f;
        c->t = t;
        c->depth++;
        r = render_body(c, &t->body);
        c->depth--;
        c->t = saved;
        c->frame = f.up;
        frame_done(&f);
        return r;
}

/* --------------------------------------------------------------- dispatch */

static int render_node(tctx *c, const tnode *n) {
        int r = tctx_charge(c, n, 1);
        if (r < 0)
                return r;
        switch (n->kind) {
        case TN_DATA:
                return out_error(c, n, tbuf_put(c->out, n->name, n->len));
        case TN_OUTPUT:
                return render_output(c, n);
        case TN_IF:
                return render_if(c, n);
        case TN_FOR:
                return render_for(c, n);
        case TN_SET:
                return render_set(c, n);
        case TN_SET_BLOCK:
                return render_set_block(c, n);
        case TN_INCLUDE:
                return render_include(c, n);
        case TN_WITH:
                return render_with(c, n);
        case TN_FILTER_BLOCK:
                return render_filter_block(c, n);
        default:
                return tctx_error(c, n, "internal error: not a statement");
        }
}

static int render_body(tctx *c, const tnodes *body) {
        for (size_t i = 0; i < body->n; i++) {
                int r = render_node(c, body->v[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ------------------------------------------------------------- public API */

void tmpl_free(tmpl *t) {
        if (!t)
                return;
        free(t->name);
        free(t->include_dir);
        tnodes_done(&t->body);
        free(t);
}

int tmpl_parse(const char *text, size_t len, const tmpl_options *o, tmpl **ret, diags *d) {
        _cleanup_(ttoks_done) ttoks toks = {};
        _cleanup_tmpl_ tmpl *t = calloc(1, sizeof *t);
        int r;

        if (!t)
                return -ENOMEM;
        t->name = strdup(o && o->name ? o->name : "<template>");
        t->include_dir = o && o->include_dir ? strdup(o->include_dir) : NULL;
        if (!t->name || (o && o->include_dir && !t->include_dir))
                return -ENOMEM;
        t->max_include_depth = o && o->max_include_depth ? o->max_include_depth : TMPL_DEFAULT_MAX_INCLUDE_DEPTH;
        t->max_output = o && o->max_output ? o->max_output : TMPL_DEFAULT_MAX_OUTPUT;
        t->max_work = o && o->max_work ? o->max_work : TMPL_DEFAULT_MAX_WORK;
        t->keep_trailing_newline = o && o->keep_trailing_newline;
        if (len > TMPL_MAX_SOURCE) {
                diag_error(d, t->name, 0, 0, "template is larger than %u bytes", TMPL_MAX_SOURCE);
                return -EINVAL;
        }
        if ((r = tmpl_lex(text, len, t->name, t->keep_trailing_newline, &toks, d)) < 0 ||
            (r = tmpl_parse_tokens(&toks, t->name, &t->body, d)) < 0)
                return r;
        *ret = TAKE_PTR(t);
        return 0;
}

static void ctx_done(tctx *c) {
        tptrset_done(&c->tuples);
        for (size_t i = 0; i < c->n_incl; i++) {
                free(c->incl[i].name);
                tmpl_free(c->incl[i].t);
        }
        free(c->incl);
        closep(&c->dirfd);
}

int tmpl_render(const tmpl *t, json_t *vars, char **ret, size_t *ret_len, diags *d) {
        _cleanup_tbuf_ tbuf out = { .max = t->max_output };
        tframe root = {};
        tctx c = {
                .d = d, .t = t, .vars = vars, .frame = &root, .out = &out, .max_work = t->max_work,
                .max_output = t->max_output, .max_depth = t->max_include_depth, .include_dir = t->include_dir,
                .dirfd = -EBADF,
        };
        int r;

        if (vars && !json_is_object(vars)) {
                diag_error(d, t->name, 0, 0, "template variables must be a JSON object");
                return -EINVAL;
        }
        r = render_body(&c, &t->body);
        frame_done(&root);
        ctx_done(&c);
        if (r < 0)
                return r;
        char *s = tbuf_steal(&out, ret_len);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

int tmpl_render_string(const char *text, size_t len, const tmpl_options *o, json_t *vars, char **ret,
                       size_t *ret_len, diags *d) {
        _cleanup_tmpl_ tmpl *t = NULL;
        int r = tmpl_parse(text, len, o, &t, d);
        if (r < 0)
                return r;
        return tmpl_render(t, vars, ret, ret_len, d);
}
