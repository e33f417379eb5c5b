/*
 * Remote-write 1.0 decoder: a snappy-decompressed prometheus.WriteRequest straight
 * to column buffers.
 *
 * Why C: decoding per sample into Python objects caps ingest at ~170k samples/s;
 * walking the protobuf wire format here and writing little-endian arrays into
 * `bytes` objects (wrapped zero-copy by numpy/pyarrow) is >10x faster.
 *
 * Two passes over the input, both without the GIL: pass 1 checks the wire
 * structure and counts (series, samples, kept labels and their bytes), so every
 * output is allocated once at its exact size; pass 2 fills the outputs and does
 * the per-series work (drop empty-valued labels, stable sort by name, XXH64 hash
 * as Prometheus' labels.Hash(), validation). Pass 2 re-checks every bound, so a
 * bytes-like input mutated by another thread meanwhile cannot cause an overflow.
 *
 * decode(buf, max_label_names, max_name_len, max_value_len) returns a tuple:
 *   0 n_series, 1 n_samples, 2 n_labels, 3 n_exemplars (ints)
 *   4 sample_offsets int64[n_series+1]   5 label_offsets int64[n_series+1]
 *   6 series_id uint64[n_series]         7 error_code uint8[n_series]
 *   8 error_label int32[n_series]        9 histogram_count int32[n_series]
 *  10 timestamps int64[n_samples]       11 values float64[n_samples] (bit-exact)
 *  12 name_offsets int32[n_labels+1]    13 name_data
 *  14 value_offsets int32[n_labels+1]   15 value_data
 *  16 metadata: list of (type, metric_family_name, help, unit)
 * Arrays are `bytes` in native (little-endian) byte order.
 * Malformed protobuf raises ValueError("proto: <Message>: <what is wrong>").
 *
 * Validation, first error wins (codes mirror Mimir's distributor checks):
 *   1 missing metric name, 2 invalid metric name, 5 too many labels,
 *   then per label in sorted order: 6 name too long, 3 invalid name,
 *   4 duplicate name, 7 value too long, 8 value not UTF-8;
 *   finally 9 series carries native histograms.
 * The label count goes before the per-label checks, as in Mimir.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "rwdecode writes native-order arrays that the Python side reads as little-endian"
#endif

#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

enum {
    ERR_OK = 0,
    ERR_MISSING_METRIC_NAME = 1,
    ERR_INVALID_METRIC_NAME = 2,
    ERR_INVALID_LABEL_NAME = 3,
    ERR_DUPLICATE_LABEL_NAME = 4,
    ERR_TOO_MANY_LABELS = 5,
    ERR_LABEL_NAME_TOO_LONG = 6,
    ERR_LABEL_VALUE_TOO_LONG = 7,
    ERR_LABEL_VALUE_INVALID_UTF8 = 8,
    ERR_NATIVE_HISTOGRAMS = 9,
};

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_SGROUP = 3, WT_EGROUP = 4, WT_I32 = 5 };

/* Merge sort takes over from insertion sort above this many labels, so a hostile
 * series with huge label counts cannot make sorting quadratic. */
#define INSERTION_SORT_MAX 32

static const uint8_t EMPTY[1] = {0};

typedef struct {
    const uint8_t *p;
    const uint8_t *end;
    const char *msg; /* protobuf message being read, for error text */
} reader;

typedef struct {
    const uint8_t *name;
    size_t name_len;
    const uint8_t *value;
    size_t value_len;
} label_ref;

typedef struct {
    uint64_t type;
    const uint8_t *name, *help, *unit;
    size_t name_len, help_len, unit_len;
} meta_ref;

typedef struct {
    char err[160];
    int nomem;
    /* limits */
    Py_ssize_t max_label_names, max_name_len, max_value_len;
    /* pass 1 totals */
    size_t n_series, n_samples, n_labels, n_exemplars;
    size_t name_bytes, value_bytes;
    size_t max_series_labels, max_series_hash_bytes;
    meta_ref *meta;
    size_t n_meta, cap_meta;
    /* pass 2 outputs (point into the result bytes objects) */
    int64_t *sample_offsets, *label_offsets;
    uint64_t *series_id;
    uint8_t *error_code;
    int32_t *error_label, *histogram_count;
    int64_t *timestamps;
    uint64_t *values;
    int32_t *name_offsets, *value_offsets;
    uint8_t *name_data, *value_data;
    /* pass 2 cursors and scratch */
    size_t series_cur, sample_cur, label_cur, name_cur, value_cur;
    label_ref *labels, *labels_tmp;
    uint8_t *hash_buf;
} decoder;

/* ------------------------------------------------------------------ errors */

static void set_err(decoder *d, const char *msg, const char *fmt, ...) {
    if (!d->err[0]) {
        int n = snprintf(d->err, sizeof d->err, "proto: %s: ", msg);
        if (n > 0 && (size_t)n < sizeof d->err) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(d->err + n, sizeof d->err - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
}

/* Records the first error and evaluates to -1 (visible to the optimizer, unlike
 * a varargs function's return value). */
#define FAIL(...) (set_err(__VA_ARGS__), -1)
#define CHANGED(d) FAIL(d, "WriteRequest", "input buffer changed during decode")

/* ------------------------------------------------------------- wire format */

static inline int rd_varint(decoder *d, reader *r, uint64_t *out) {
    const uint8_t *p = r->p;
    if (LIKELY(p < r->end && *p < 0x80)) {
        *out = *p;
        r->p = p + 1;
        return 0;
    }
    uint64_t v = 0;
    for (int i = 0, shift = 0; i < 10; i++, shift += 7) {
        if (UNLIKELY(p >= r->end)) return FAIL(d, r->msg, "truncated varint");
        uint8_t b = *p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (b < 0x80) {
            *out = v;
            r->p = p;
            return 0;
        }
    }
    return FAIL(d, r->msg, "varint overflows 64 bits");
}

static inline int rd_tag(decoder *d, reader *r, uint32_t *field, uint32_t *wt) {
    uint64_t t;
    if (UNLIKELY(rd_varint(d, r, &t))) return -1;
    if (UNLIKELY(t > 0xffffffffu || (t >> 3) == 0))
        return FAIL(d, r->msg, "illegal tag %llu (field number 0 or too large)", (unsigned long long)t);
    *field = (uint32_t)(t >> 3);
    *wt = (uint32_t)(t & 7);
    return 0;
}

/* Reads a length-delimited payload into `sub` (same message name). */
static inline int rd_len(decoder *d, reader *r, reader *sub, const char *sub_msg) {
    uint64_t n;
    if (UNLIKELY(rd_varint(d, r, &n))) return -1;
    if (UNLIKELY(n > (uint64_t)(r->end - r->p))) return FAIL(d, r->msg, "truncated length-delimited field");
    sub->p = r->p;
    sub->end = r->p + n;
    sub->msg = sub_msg;
    r->p += n;
    return 0;
}

static int skip_field(decoder *d, reader *r, uint32_t wt) {
    uint64_t v;
    reader sub;
    switch (wt) {
    case WT_VARINT:
        return rd_varint(d, r, &v);
    case WT_I64:
        if (r->end - r->p < 8) return FAIL(d, r->msg, "truncated 64-bit field");
        r->p += 8;
        return 0;
    case WT_LEN:
        return rd_len(d, r, &sub, r->msg);
    case WT_I32:
        if (r->end - r->p < 4) return FAIL(d, r->msg, "truncated 32-bit field");
        r->p += 4;
        return 0;
    case WT_SGROUP:
    case WT_EGROUP:
        return FAIL(d, r->msg, "group wire type %u is not supported", wt);
    default:
        return FAIL(d, r->msg, "illegal wire type %u", wt);
    }
}

static inline int want_wt(decoder *d, reader *r, uint32_t wt, uint32_t want, const char *field) {
    if (LIKELY(wt == want)) return 0;
    if (wt == WT_SGROUP || wt == WT_EGROUP) return FAIL(d, r->msg, "group wire type %u is not supported", wt);
    if (wt > WT_I32) return FAIL(d, r->msg, "illegal wire type %u", wt);
    return FAIL(d, r->msg, "wrong wire type %u for field %s", wt, field);
}

/* Checks the wire structure of one message level without interpreting it
 * (exemplars and native histograms, which we only count). */
static int walk_message(decoder *d, reader r) {
    uint32_t field, wt;
    while (r.p < r.end) {
        if (rd_tag(d, &r, &field, &wt) || skip_field(d, &r, wt)) return -1;
    }
    return 0;
}

static inline uint64_t load64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint32_t load32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* ---------------------------------------------------------------- messages */

static int parse_label(decoder *d, reader r, label_ref *l) {
    uint32_t field, wt;
    reader s;
    l->name = l->value = EMPTY;
    l->name_len = l->value_len = 0;
    while (r.p < r.end) {
        if (rd_tag(d, &r, &field, &wt)) return -1;
        if (field == 1) {
            if (want_wt(d, &r, wt, WT_LEN, "name") || rd_len(d, &r, &s, r.msg)) return -1;
            l->name = s.p;
            l->name_len = (size_t)(s.end - s.p);
        } else if (field == 2) {
            if (want_wt(d, &r, wt, WT_LEN, "value") || rd_len(d, &r, &s, r.msg)) return -1;
            l->value = s.p;
            l->value_len = (size_t)(s.end - s.p);
        } else if (skip_field(d, &r, wt)) {
            return -1;
        }
    }
    return 0;
}

static inline int parse_sample(decoder *d, reader r, int64_t *ts, uint64_t *val) {
    uint32_t field, wt;
    uint64_t v;
    *ts = 0;
    *val = 0;
    while (r.p < r.end) {
        if (rd_tag(d, &r, &field, &wt)) return -1;
        if (field == 1) {
            if (want_wt(d, &r, wt, WT_I64, "value")) return -1;
            if (r.end - r.p < 8) return FAIL(d, r.msg, "truncated 64-bit field");
            *val = load64(r.p);
            r.p += 8;
        } else if (field == 2) {
            if (want_wt(d, &r, wt, WT_VARINT, "timestamp") || rd_varint(d, &r, &v)) return -1;
            *ts = (int64_t)v;
        } else if (skip_field(d, &r, wt)) {
            return -1;
        }
    }
    return 0;
}

static int parse_metadata(decoder *d, reader r) {
    uint32_t field, wt;
    reader s;
    meta_ref m = {0, EMPTY, EMPTY, EMPTY, 0, 0, 0};
    while (r.p < r.end) {
        if (rd_tag(d, &r, &field, &wt)) return -1;
        if (field == 1) {
            if (want_wt(d, &r, wt, WT_VARINT, "type") || rd_varint(d, &r, &m.type)) return -1;
        } else if (field == 2 || field == 4 || field == 5) {
            if (want_wt(d, &r, wt, WT_LEN, field == 2 ? "metric_family_name" : field == 4 ? "help" : "unit") ||
                rd_len(d, &r, &s, r.msg))
                return -1;
            size_t n = (size_t)(s.end - s.p);
            if (field == 2) { m.name = s.p; m.name_len = n; }
            else if (field == 4) { m.help = s.p; m.help_len = n; }
            else { m.unit = s.p; m.unit_len = n; }
        } else if (skip_field(d, &r, wt)) {
            return -1;
        }
    }
    if (d->n_meta == d->cap_meta) {
        size_t cap = d->cap_meta ? d->cap_meta * 2 : 16;
        meta_ref *grown = realloc(d->meta, cap * sizeof *grown);
        if (!grown) {
            d->nomem = 1;
            return -1;
        }
        d->meta = grown;
        d->cap_meta = cap;
    }
    d->meta[d->n_meta++] = m;
    return 0;
}

/* Pass 1 for one TimeSeries: structure check and counts. */
static int count_series(decoder *d, reader r) {
    uint32_t field, wt;
    reader s;
    label_ref l;
    size_t n_labels = 0, hash_bytes = 0;
    while (r.p < r.end) {
        if (rd_tag(d, &r, &field, &wt)) return -1;
        switch (field) {
        case 1:
            if (want_wt(d, &r, wt, WT_LEN, "labels") || rd_len(d, &r, &s, "Label") || parse_label(d, s, &l)) return -1;
            if (l.value_len) {
                n_labels++;
                d->name_bytes += l.name_len;
                d->value_bytes += l.value_len;
                hash_bytes += l.name_len + l.value_len + 2;
            }
            break;
        case 2:
            if (want_wt(d, &r, wt, WT_LEN, "samples") || rd_len(d, &r, &s, "Sample")) return -1;
            d->n_samples++;
            break;
        case 3:
            if (want_wt(d, &r, wt, WT_LEN, "exemplars") || rd_len(d, &r, &s, "Exemplar") || walk_message(d, s))
                return -1;
            d->n_exemplars++;
            break;
        case 4:
            if (want_wt(d, &r, wt, WT_LEN, "histograms") || rd_len(d, &r, &s, "Histogram") || walk_message(d, s))
                return -1;
            break;
        default:
            if (skip_field(d, &r, wt)) return -1;
        }
    }
    d->n_labels += n_labels;
    if (n_labels > d->max_series_labels) d->max_series_labels = n_labels;
    if (hash_bytes > d->max_series_hash_bytes) d->max_series_hash_bytes = hash_bytes;
    return 0;
}

/* --------------------------------------------------------------- per series */

static inline int name_cmp(const label_ref *a, const label_ref *b) {
    size_t n = a->name_len < b->name_len ? a->name_len : b->name_len;
    int c = memcmp(a->name, b->name, n);
    if (c) return c;
    return (a->name_len > b->name_len) - (a->name_len < b->name_len);
}

/* Stable sort by name; labels usually arrive sorted, which is the O(n) case. */
static void sort_labels(label_ref *a, label_ref *tmp, size_t n) {
    size_t i;
    for (i = 1; i < n && name_cmp(&a[i - 1], &a[i]) <= 0; i++) {
    }
    if (i >= n) return;
    if (n <= INSERTION_SORT_MAX) {
        for (; i < n; i++) {
            label_ref cur = a[i];
            size_t j = i;
            while (j > 0 && name_cmp(&a[j - 1], &cur) > 0) {
                a[j] = a[j - 1];
                j--;
            }
            a[j] = cur;
        }
        return;
    }
    /* bottom-up merge sort, ping-ponging between a and tmp */
    label_ref *src = a, *dst = tmp;
    for (size_t width = 1; width < n; width *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = lo + width < n ? lo + width : n;
            size_t hi = lo + 2 * width < n ? lo + 2 * width : n;
            size_t x = lo, y = mid, k = lo;
            while (x < mid && y < hi) dst[k++] = name_cmp(&src[y], &src[x]) < 0 ? src[y++] : src[x++];
            while (x < mid) dst[k++] = src[x++];
            while (y < hi) dst[k++] = src[y++];
        }
        label_ref *t = src;
        src = dst;
        dst = t;
    }
    if (src != a) memcpy(a, src, n * sizeof *a);
}

/* XXH64 (seed 0 by the caller), from the xxHash specification. */
#define XXH_P1 11400714785074694791ULL
#define XXH_P2 14029467366897019727ULL
#define XXH_P3 1609587929392839161ULL
#define XXH_P4 9650029242287828579ULL
#define XXH_P5 2870177450012600261ULL

static inline uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

static inline uint64_t xxh_round(uint64_t acc, uint64_t lane) {
    acc += lane * XXH_P2;
    acc = rotl64(acc, 31);
    return acc * XXH_P1;
}

static inline uint64_t xxh_merge(uint64_t acc, uint64_t v) {
    acc ^= xxh_round(0, v);
    return acc * XXH_P1 + XXH_P4;
}

static uint64_t xxh64(const uint8_t *p, size_t len, uint64_t seed) {
    const uint8_t *end = p + len;
    uint64_t h;
    if (len >= 32) {
        uint64_t v1 = seed + XXH_P1 + XXH_P2, v2 = seed + XXH_P2, v3 = seed, v4 = seed - XXH_P1;
        const uint8_t *limit = end - 32;
        do {
            v1 = xxh_round(v1, load64(p));
            v2 = xxh_round(v2, load64(p + 8));
            v3 = xxh_round(v3, load64(p + 16));
            v4 = xxh_round(v4, load64(p + 24));
            p += 32;
        } while (p <= limit);
        h = rotl64(v1, 1) + rotl64(v2, 7) + rotl64(v3, 12) + rotl64(v4, 18);
        h = xxh_merge(h, v1);
        h = xxh_merge(h, v2);
        h = xxh_merge(h, v3);
        h = xxh_merge(h, v4);
    } else {
        h = seed + XXH_P5;
    }
    h += (uint64_t)len;
    for (; end - p >= 8; p += 8) {
        h ^= xxh_round(0, load64(p));
        h = rotl64(h, 27) * XXH_P1 + XXH_P4;
    }
    if (end - p >= 4) {
        h ^= (uint64_t)load32(p) * XXH_P1;
        h = rotl64(h, 23) * XXH_P2 + XXH_P3;
        p += 4;
    }
    for (; p < end; p++) {
        h ^= (uint64_t)(*p) * XXH_P5;
        h = rotl64(h, 11) * XXH_P1;
    }
    h ^= h >> 33;
    h *= XXH_P2;
    h ^= h >> 29;
    h *= XXH_P3;
    h ^= h >> 32;
    return h;
}

static inline int is_alpha_(uint8_t c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static inline int is_digit(uint8_t c) { return c >= '0' && c <= '9'; }

/* Legacy metric name: [a-zA-Z_:][a-zA-Z0-9_:]* */
static int valid_metric_name(const uint8_t *s, size_t n) {
    if (n == 0 || !(is_alpha_(s[0]) || s[0] == ':')) return 0;
    for (size_t i = 1; i < n; i++)
        if (!(is_alpha_(s[i]) || is_digit(s[i]) || s[i] == ':')) return 0;
    return 1;
}

/* Legacy label name: [a-zA-Z_][a-zA-Z0-9_]* */
static int valid_label_name(const uint8_t *s, size_t n) {
    if (n == 0 || !is_alpha_(s[0])) return 0;
    for (size_t i = 1; i < n; i++)
        if (!(is_alpha_(s[i]) || is_digit(s[i]))) return 0;
    return 1;
}

/* Strict UTF-8 as Go's utf8.Valid: no overlongs, surrogates or code points > U+10FFFF. */
static int valid_utf8(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        if (i + 8 <= n && !(load64(s + i) & 0x8080808080808080ULL)) {
            i += 8;
            continue;
        }
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
        } else if (c < 0xc2) {
            return 0;
        } else if (c < 0xe0) {
            if (i + 2 > n || (s[i + 1] & 0xc0) != 0x80) return 0;
            i += 2;
        } else if (c < 0xf0) {
            if (i + 3 > n) return 0;
            uint8_t c1 = s[i + 1];
            uint8_t lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
            if (c1 < lo || c1 > hi || (s[i + 2] & 0xc0) != 0x80) return 0;
            i += 3;
        } else if (c < 0xf5) {
            if (i + 4 > n) return 0;
            uint8_t c1 = s[i + 1];
            uint8_t lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
            if (c1 < lo || c1 > hi || (s[i + 2] & 0xc0) != 0x80 || (s[i + 3] & 0xc0) != 0x80) return 0;
            i += 4;
        } else {
            return 0;
        }
    }
    return 1;
}

static const uint8_t METRIC_NAME_LABEL[8] = {'_', '_', 'n', 'a', 'm', 'e', '_', '_'};

static inline int is_name_label(const label_ref *l) {
    return l->name_len == 8 && memcmp(l->name, METRIC_NAME_LABEL, 8) == 0;
}

/* Error code and offending label index (or -1) of sorted labels a[0..n). */
static void validate_series(const decoder *d, const label_ref *a, size_t n, int32_t n_hist, uint8_t *code,
                            int32_t *at) {
    size_t i;
    *at = -1;
    for (i = 0; i < n && !is_name_label(&a[i]); i++) {
    }
    if (i == n) {
        *code = ERR_MISSING_METRIC_NAME;
        return;
    }
    if (!valid_metric_name(a[i].value, a[i].value_len)) {
        *code = ERR_INVALID_METRIC_NAME;
        *at = (int32_t)i;
        return;
    }
    if ((Py_ssize_t)n > d->max_label_names) {
        *code = ERR_TOO_MANY_LABELS;
        return;
    }
    for (i = 0; i < n; i++) {
        const label_ref *l = &a[i];
        uint8_t c = ERR_OK;
        if ((Py_ssize_t)l->name_len > d->max_name_len) c = ERR_LABEL_NAME_TOO_LONG;
        else if (!valid_label_name(l->name, l->name_len)) c = ERR_INVALID_LABEL_NAME;
        else if (i > 0 && name_cmp(&a[i - 1], l) == 0) c = ERR_DUPLICATE_LABEL_NAME;
        else if ((Py_ssize_t)l->value_len > d->max_value_len) c = ERR_LABEL_VALUE_TOO_LONG;
        else if (!valid_utf8(l->value, l->value_len)) c = ERR_LABEL_VALUE_INVALID_UTF8;
        if (c != ERR_OK) {
            *code = c;
            *at = (int32_t)i;
            return;
        }
    }
    *code = n_hist > 0 ? ERR_NATIVE_HISTOGRAMS : ERR_OK;
}

/* Pass 2 for one TimeSeries: samples to the columns, labels sorted, hashed,
 * validated and appended. */
static int fill_series(decoder *d, reader r) {
    uint32_t field, wt;
    reader s;
    label_ref l;
    size_t n = 0, i = d->series_cur;
    int32_t n_hist = 0;
    if (i >= d->n_series) return CHANGED(d);
    while (r.p < r.end) {
        if (rd_tag(d, &r, &field, &wt)) return -1;
        switch (field) {
        case 1:
            if (want_wt(d, &r, wt, WT_LEN, "labels") || rd_len(d, &r, &s, "Label") || parse_label(d, s, &l)) return -1;
            if (l.value_len) {
                if (n >= d->max_series_labels) return CHANGED(d);
                d->labels[n++] = l;
            }
            break;
        case 2:
            if (want_wt(d, &r, wt, WT_LEN, "samples") || rd_len(d, &r, &s, "Sample")) return -1;
            if (d->sample_cur >= d->n_samples) return CHANGED(d);
            if (parse_sample(d, s, &d->timestamps[d->sample_cur], &d->values[d->sample_cur])) return -1;
            d->sample_cur++;
            break;
        case 3:
            if (want_wt(d, &r, wt, WT_LEN, "exemplars") || rd_len(d, &r, &s, "Exemplar")) return -1;
            break;
        case 4:
            if (want_wt(d, &r, wt, WT_LEN, "histograms") || rd_len(d, &r, &s, "Histogram")) return -1;
            n_hist++;
            break;
        default:
            if (skip_field(d, &r, wt)) return -1;
        }
    }

    sort_labels(d->labels, d->labels_tmp, n);

    size_t h = 0;
    for (size_t j = 0; j < n; j++) {
        const label_ref *x = &d->labels[j];
        if (x->name_len + x->value_len + 2 > d->max_series_hash_bytes - h) return CHANGED(d);
        if (x->name_len > d->name_bytes - d->name_cur || x->value_len > d->value_bytes - d->value_cur)
            return CHANGED(d);
        if (d->label_cur >= d->n_labels) return CHANGED(d);
        memcpy(d->hash_buf + h, x->name, x->name_len);
        h += x->name_len;
        d->hash_buf[h++] = 0xff;
        memcpy(d->hash_buf + h, x->value, x->value_len);
        h += x->value_len;
        d->hash_buf[h++] = 0xff;
        memcpy(d->name_data + d->name_cur, x->name, x->name_len);
        d->name_cur += x->name_len;
        memcpy(d->value_data + d->value_cur, x->value, x->value_len);
        d->value_cur += x->value_len;
        d->label_cur++;
        d->name_offsets[d->label_cur] = (int32_t)d->name_cur;
        d->value_offsets[d->label_cur] = (int32_t)d->value_cur;
    }
    d->series_id[i] = xxh64(d->hash_buf, h, 0);
    validate_series(d, d->labels, n, n_hist, &d->error_code[i], &d->error_label[i]);
    d->histogram_count[i] = n_hist;
    d->sample_offsets[i + 1] = (int64_t)d->sample_cur;
    d->label_offsets[i + 1] = (int64_t)d->label_cur;
    d->series_cur++;
    return 0;
}

/* ----------------------------------------------------------- write request */

static int pass1(decoder *d, reader r) {
    uint32_t field, wt;
    reader s;
    while (r.p < r.end) {
        if (rd_tag(d, &r, &field, &wt)) return -1;
        if (field == 1) {
            if (want_wt(d, &r, wt, WT_LEN, "timeseries") || rd_len(d, &r, &s, "TimeSeries") || count_series(d, s))
                return -1;
            d->n_series++;
        } else if (field == 3) {
            if (want_wt(d, &r, wt, WT_LEN, "metadata") || rd_len(d, &r, &s, "MetricMetadata") || parse_metadata(d, s))
                return -1;
        } else if (skip_field(d, &r, wt)) {
            return -1;
        }
    }
    return 0;
}

static int pass2(decoder *d, reader r) {
    uint32_t field, wt;
    reader s;
    d->sample_offsets[0] = 0;
    d->label_offsets[0] = 0;
    d->name_offsets[0] = 0;
    d->value_offsets[0] = 0;
    while (r.p < r.end) {
        if (rd_tag(d, &r, &field, &wt)) return -1;
        if (field == 1) {
            if (want_wt(d, &r, wt, WT_LEN, "timeseries") || rd_len(d, &r, &s, "TimeSeries") || fill_series(d, s))
                return -1;
        } else if (skip_field(d, &r, wt)) {
            return -1;
        }
    }
    if (d->series_cur != d->n_series || d->sample_cur != d->n_samples || d->label_cur != d->n_labels ||
        d->name_cur != d->name_bytes || d->value_cur != d->value_bytes)
        return CHANGED(d);
    return 0;
}

/* ---------------------------------------------------------------- python */

static PyObject *meta_list(const decoder *d) {
    PyObject *list = PyList_New((Py_ssize_t)d->n_meta);
    if (!list) return NULL;
    for (size_t i = 0; i < d->n_meta; i++) {
        const meta_ref *m = &d->meta[i];
        PyObject *t = Py_BuildValue("(iN N N)", (int)(int32_t)(uint32_t)m->type,
                                    PyUnicode_DecodeUTF8((const char *)m->name, (Py_ssize_t)m->name_len, "replace"),
                                    PyUnicode_DecodeUTF8((const char *)m->help, (Py_ssize_t)m->help_len, "replace"),
                                    PyUnicode_DecodeUTF8((const char *)m->unit, (Py_ssize_t)m->unit_len, "replace"));
        if (!t) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, t);
    }
    return list;
}

#define N_ARRAYS 12

static PyObject *decode(PyObject *self, PyObject *args) {
    Py_buffer buf;
    Py_ssize_t max_label_names, max_name_len, max_value_len;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*nnn:decode", &buf, &max_label_names, &max_name_len, &max_value_len)) return NULL;

    decoder d;
    memset(&d, 0, sizeof d);
    d.max_label_names = max_label_names;
    d.max_name_len = max_name_len;
    d.max_value_len = max_value_len;
    reader top = {(const uint8_t *)buf.buf, (const uint8_t *)buf.buf + buf.len, "WriteRequest"};
    PyObject *arrays[N_ARRAYS] = {NULL};
    PyObject *result = NULL;
    int rc;

    Py_BEGIN_ALLOW_THREADS
    rc = pass1(&d, top);
    Py_END_ALLOW_THREADS
    if (rc) goto done;
    if (d.name_bytes > INT32_MAX || d.value_bytes > INT32_MAX) {
        set_err(&d, "WriteRequest", "label names or values exceed 2 GiB");
        goto done;
    }

    size_t sizes[N_ARRAYS] = {
        (d.n_series + 1) * 8, (d.n_series + 1) * 8, d.n_series * 8, d.n_series,
        d.n_series * 4,       d.n_series * 4,       d.n_samples * 8, d.n_samples * 8,
        (d.n_labels + 1) * 4, d.name_bytes,         (d.n_labels + 1) * 4, d.value_bytes,
    };
    for (int k = 0; k < N_ARRAYS; k++) {
        arrays[k] = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)sizes[k]);
        if (!arrays[k]) goto done;
    }
#define ARR(k) ((void *)PyBytes_AS_STRING(arrays[k]))
    d.sample_offsets = ARR(0);
    d.label_offsets = ARR(1);
    d.series_id = ARR(2);
    d.error_code = ARR(3);
    d.error_label = ARR(4);
    d.histogram_count = ARR(5);
    d.timestamps = ARR(6);
    d.values = ARR(7);
    d.name_offsets = ARR(8);
    d.name_data = ARR(9);
    d.value_offsets = ARR(10);
    d.value_data = ARR(11);
#undef ARR
    d.labels = PyMem_RawMalloc((2 * d.max_series_labels + 1) * sizeof(label_ref));
    d.labels_tmp = d.labels + d.max_series_labels;
    d.hash_buf = PyMem_RawMalloc(d.max_series_hash_bytes + 1);
    if (!d.labels || !d.hash_buf) {
        PyErr_NoMemory();
        goto done;
    }

    Py_BEGIN_ALLOW_THREADS
    rc = pass2(&d, top);
    Py_END_ALLOW_THREADS
    if (rc) goto done;

    PyObject *meta = meta_list(&d);
    if (!meta) goto done;
    result = Py_BuildValue("(nnnnNNNNNNNNNNNNN)", (Py_ssize_t)d.n_series, (Py_ssize_t)d.n_samples,
                           (Py_ssize_t)d.n_labels, (Py_ssize_t)d.n_exemplars, arrays[0], arrays[1], arrays[2],
                           arrays[3], arrays[4], arrays[5], arrays[6], arrays[7], arrays[8], arrays[9], arrays[10],
                           arrays[11], meta);
    /* "N" stole the references, even on failure */
    memset(arrays, 0, sizeof arrays);

done:
    if (!result && !PyErr_Occurred()) {
        if (d.nomem) PyErr_NoMemory();
        else PyErr_SetString(PyExc_ValueError, d.err[0] ? d.err : "proto: WriteRequest: decode failed");
    }
    for (int k = 0; k < N_ARRAYS; k++) Py_XDECREF(arrays[k]);
    PyMem_RawFree(d.labels);
    PyMem_RawFree(d.hash_buf);
    free(d.meta);
    PyBuffer_Release(&buf);
    return result;
}

static PyMethodDef methods[] = {
    {"decode", decode, METH_VARARGS,
     "decode(buf, max_label_names, max_name_len, max_value_len) -> tuple\n\n"
     "Decode a snappy-decompressed remote-write 1.0 WriteRequest into column buffers\n"
     "(see tsdb/_native/rwdecode.c for the tuple layout). Raises ValueError on\n"
     "malformed protobuf."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_rwdecode",
    "Remote-write 1.0 WriteRequest decoder to column buffers (C, GIL released while parsing).", -1, methods,
};

PyMODINIT_FUNC PyInit__rwdecode(void) { return PyModule_Create(&module); }
