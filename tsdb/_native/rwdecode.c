/*
 * Remote-write 1.0 decoder: a snappy-decompressed prometheus.WriteRequest straight
 * to column buffers.
 *
 * Why C: decoding per sample into Python objects caps ingest at ~170k samples/s;
 * walking the protobuf wire format here and writing little-endian arrays into
 * `bytes` objects (wrapped zero-copy by numpy/pyarrow) is >10x faster.
 *
 * Two passes over the input, both without the GIL. Pass 1 walks the WriteRequest
 * and TimeSeries levels only: it counts series and samples exactly and bounds the
 * label count and label bytes from the Label fields' sizes, so every output is
 * allocated once. Pass 2 parses everything and does the per-series work (drop
 * empty-valued labels, stable sort by name, XXH64 as Prometheus' labels.Hash(),
 * validation); the label buffers are then shrunk to their exact size. Pass 2
 * re-checks every bound, so a bytes-like input mutated by another thread in the
 * meantime yields an error, never an overflow.
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
 * series with a huge label count cannot make sorting quadratic. */
#define INSERTION_SORT_MAX 32

static const uint8_t EMPTY[1] = {0};

typedef struct {
    const uint8_t *p, *end;
} span;

typedef struct {
    const uint8_t *name;
    size_t name_len;
    const uint8_t *value;
    size_t value_len;
} label_ref;

typedef struct {
    uint64_t type;
    span name, help, unit;
} meta_ref;

typedef struct {
    char err[160];
    int nomem;
    Py_ssize_t max_label_names, max_name_len, max_value_len;
    /* pass 1: exact counts and label upper bounds */
    size_t n_series, n_samples, n_exemplars;
    size_t label_cap, label_bytes_cap;
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
    /* pass 2 cursors (their final values are the exact counts) and scratch */
    size_t series_cur, sample_cur, label_cur, name_cur, value_cur;
    label_ref *labels, *labels_tmp;
    uint8_t *hash_buf;
} decoder;

/* ------------------------------------------------------------------ errors */

static void set_err(decoder *d, const char *msg, const char *fmt, ...) {
    if (d->err[0]) return;
    int n = snprintf(d->err, sizeof d->err, "proto: %s: ", msg);
    if (n > 0 && (size_t)n < sizeof d->err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(d->err + n, sizeof d->err - (size_t)n, fmt, ap);
        va_end(ap);
    }
}

/* Record the first error and evaluate to NULL / -1 (visible to the optimizer). */
#define FAIL_P(...) (set_err(__VA_ARGS__), (const uint8_t *)NULL)
#define FAIL(...) (set_err(__VA_ARGS__), -1)
#define CHANGED(d) FAIL(d, "WriteRequest", "input buffer changed during decode")

/* ------------------------------------------------------------- wire format */
/* Readers take the cursor and the end by value and return the new cursor, or
 * NULL after recording an error, so the cursor stays in a register. */

static inline const uint8_t *get_varint(decoder *d, const char *msg, const uint8_t *p, const uint8_t *end,
                                        uint64_t *out) {
    if (LIKELY(p < end && *p < 0x80)) {
        *out = *p;
        return p + 1;
    }
    uint64_t v = 0;
    for (int i = 0; i < 10; i++) {
        if (UNLIKELY(p >= end)) return FAIL_P(d, msg, "truncated varint");
        uint8_t b = *p++;
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (b < 0x80) {
            *out = v;
            return p;
        }
    }
    return FAIL_P(d, msg, "varint overflows 64 bits");
}

static inline const uint8_t *get_tag(decoder *d, const char *msg, const uint8_t *p, const uint8_t *end,
                                     uint32_t *field, uint32_t *wt) {
    uint64_t t;
    if (UNLIKELY(!(p = get_varint(d, msg, p, end, &t)))) return NULL;
    if (UNLIKELY(t > 0xffffffffu || (t >> 3) == 0))
        return FAIL_P(d, msg, "illegal tag %llu (field number 0 or too large)", (unsigned long long)t);
    *field = (uint32_t)(t >> 3);
    *wt = (uint32_t)(t & 7);
    return p;
}

/* A length-delimited payload: stores it in `sub`, returns the cursor after it. */
static inline const uint8_t *get_len(decoder *d, const char *msg, const uint8_t *p, const uint8_t *end, span *sub) {
    uint64_t n;
    if (UNLIKELY(!(p = get_varint(d, msg, p, end, &n)))) return NULL;
    if (UNLIKELY(n > (uint64_t)(end - p))) return FAIL_P(d, msg, "truncated length-delimited field");
    sub->p = p;
    sub->end = p + n;
    return p + n;
}

static inline int bad_wire_type(decoder *d, const char *msg, uint32_t wt) {
    if (wt == WT_SGROUP || wt == WT_EGROUP) return FAIL(d, msg, "group wire type %u is not supported", wt);
    return FAIL(d, msg, "illegal wire type %u", wt);
}

static inline const uint8_t *skip_field(decoder *d, const char *msg, const uint8_t *p, const uint8_t *end,
                                        uint32_t wt) {
    uint64_t v;
    span s;
    switch (wt) {
    case WT_VARINT:
        return get_varint(d, msg, p, end, &v);
    case WT_I64:
        if (end - p < 8) return FAIL_P(d, msg, "truncated 64-bit field");
        return p + 8;
    case WT_LEN:
        return get_len(d, msg, p, end, &s);
    case WT_I32:
        if (end - p < 4) return FAIL_P(d, msg, "truncated 32-bit field");
        return p + 4;
    default:
        bad_wire_type(d, msg, wt);
        return NULL;
    }
}

/* 0 when a known field has the wire type its declaration implies. */
static inline int check_wt(decoder *d, const char *msg, uint32_t wt, uint32_t want, const char *field) {
    if (LIKELY(wt == want)) return 0;
    if (wt == WT_SGROUP || wt == WT_EGROUP || wt > WT_I32) return bad_wire_type(d, msg, wt);
    return FAIL(d, msg, "wrong wire type %u for field %s", wt, field);
}

/* Checks the wire structure of one message level without interpreting it
 * (exemplars and native histograms, which are only counted). */
static int walk_message(decoder *d, const char *msg, const uint8_t *p, const uint8_t *end) {
    uint32_t field, wt;
    while (p < end) {
        if (!(p = get_tag(d, msg, p, end, &field, &wt)) || !(p = skip_field(d, msg, p, end, wt))) return -1;
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

static inline int parse_label(decoder *d, const uint8_t *p, const uint8_t *end, label_ref *l) {
    static const char *const M = "Label";
    uint32_t field, wt;
    span s;
    l->name = l->value = EMPTY;
    l->name_len = l->value_len = 0;
    while (p < end) {
        if (UNLIKELY(!(p = get_tag(d, M, p, end, &field, &wt)))) return -1;
        if (field == 1) {
            if (check_wt(d, M, wt, WT_LEN, "name") || !(p = get_len(d, M, p, end, &s))) return -1;
            l->name = s.p;
            l->name_len = (size_t)(s.end - s.p);
        } else if (field == 2) {
            if (check_wt(d, M, wt, WT_LEN, "value") || !(p = get_len(d, M, p, end, &s))) return -1;
            l->value = s.p;
            l->value_len = (size_t)(s.end - s.p);
        } else if (!(p = skip_field(d, M, p, end, wt))) {
            return -1;
        }
    }
    return 0;
}

static inline int parse_sample(decoder *d, const uint8_t *p, const uint8_t *end, int64_t *ts, uint64_t *val) {
    static const char *const M = "Sample";
    uint32_t field, wt;
    uint64_t v, t = 0, x = 0;
    /* fast path for the usual encoding: value (tag 0x09) then timestamp (tag 0x10) */
    if (LIKELY(end - p >= 10 && p[0] == 0x09 && p[9] == 0x10)) {
        x = load64(p + 1);
        if (!(p = get_varint(d, M, p + 10, end, &t))) return -1;
    }
    while (p < end) {
        if (UNLIKELY(!(p = get_tag(d, M, p, end, &field, &wt)))) return -1;
        if (field == 1) {
            if (check_wt(d, M, wt, WT_I64, "value")) return -1;
            if (end - p < 8) return FAIL(d, M, "truncated 64-bit field");
            x = load64(p);
            p += 8;
        } else if (field == 2) {
            if (check_wt(d, M, wt, WT_VARINT, "timestamp") || !(p = get_varint(d, M, p, end, &v))) return -1;
            t = v;
        } else if (!(p = skip_field(d, M, p, end, wt))) {
            return -1;
        }
    }
    *ts = (int64_t)t;
    *val = x;
    return 0;
}

static int parse_metadata(decoder *d, const uint8_t *p, const uint8_t *end) {
    static const char *const M = "MetricMetadata";
    uint32_t field, wt;
    span s, none = {EMPTY, EMPTY};
    meta_ref m = {0, none, none, none};
    while (p < end) {
        if (!(p = get_tag(d, M, p, end, &field, &wt))) return -1;
        if (field == 1) {
            if (check_wt(d, M, wt, WT_VARINT, "type") || !(p = get_varint(d, M, p, end, &m.type))) return -1;
        } else if (field == 2 || field == 4 || field == 5) {
            const char *name = field == 2 ? "metric_family_name" : field == 4 ? "help" : "unit";
            if (check_wt(d, M, wt, WT_LEN, name) || !(p = get_len(d, M, p, end, &s))) return -1;
            *(field == 2 ? &m.name : field == 4 ? &m.help : &m.unit) = s;
        } else if (!(p = skip_field(d, M, p, end, wt))) {
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

/* Pass 1 for one TimeSeries: exact sample count, label bounds, structure of
 * exemplars and histograms. Labels and samples are parsed in pass 2. */
static int count_series(decoder *d, const uint8_t *p, const uint8_t *end) {
    static const char *const M = "TimeSeries";
    uint32_t field, wt;
    span s;
    size_t n_labels = 0, label_bytes = 0;
    while (p < end) {
        if (!(p = get_tag(d, M, p, end, &field, &wt))) return -1;
        switch (field) {
        case 1:
            if (check_wt(d, M, wt, WT_LEN, "labels") || !(p = get_len(d, M, p, end, &s))) return -1;
            n_labels++;
            label_bytes += (size_t)(s.end - s.p);
            break;
        case 2:
            if (check_wt(d, M, wt, WT_LEN, "samples") || !(p = get_len(d, M, p, end, &s))) return -1;
            d->n_samples++;
            break;
        case 3:
            if (check_wt(d, M, wt, WT_LEN, "exemplars") || !(p = get_len(d, M, p, end, &s)) ||
                walk_message(d, "Exemplar", s.p, s.end))
                return -1;
            d->n_exemplars++;
            break;
        case 4:
            if (check_wt(d, M, wt, WT_LEN, "histograms") || !(p = get_len(d, M, p, end, &s)) ||
                walk_message(d, "Histogram", s.p, s.end))
                return -1;
            break;
        default:
            if (!(p = skip_field(d, M, p, end, wt))) return -1;
        }
    }
    d->label_cap += n_labels;
    d->label_bytes_cap += label_bytes;
    if (n_labels > d->max_series_labels) d->max_series_labels = n_labels;
    if (label_bytes + 2 * n_labels > d->max_series_hash_bytes) d->max_series_hash_bytes = label_bytes + 2 * n_labels;
    return 0;
}

/* --------------------------------------------------------------- per series */

/* Byte-wise name order (Go's string comparison), inline: names are short, and a
 * libc memcmp call per comparison dominated sorting. */
static inline int name_cmp(const label_ref *a, const label_ref *b) {
    size_t n = a->name_len < b->name_len ? a->name_len : b->name_len, i = 0;
    const uint8_t *x = a->name, *y = b->name;
    for (; i + 8 <= n; i += 8) {
        uint64_t u = load64(x + i), v = load64(y + i);
        if (u != v) return __builtin_bswap64(u) < __builtin_bswap64(v) ? -1 : 1;
    }
    for (; i < n; i++)
        if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
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

/* XXH64, written from the xxHash specification. */
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

/* Character classes of legacy names: 1 [a-zA-Z_], 2 [0-9], 4 ':'. */
enum { C_ALPHA = 1, C_DIGIT = 2, C_COLON = 4 };
static const uint8_t NAME_CHARS[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 4, 0, 0, 0, 0, 0,
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1,
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

static inline int all_chars(const uint8_t *s, size_t n, uint8_t first, uint8_t rest) {
    if (n == 0 || !(NAME_CHARS[s[0]] & first)) return 0;
    for (size_t i = 1; i < n; i++)
        if (!(NAME_CHARS[s[i]] & rest)) return 0;
    return 1;
}

/* Legacy metric name: [a-zA-Z_:][a-zA-Z0-9_:]* */
static inline int valid_metric_name(const uint8_t *s, size_t n) {
    return all_chars(s, n, C_ALPHA | C_COLON, C_ALPHA | C_DIGIT | C_COLON);
}

/* Legacy label name: [a-zA-Z_][a-zA-Z0-9_]* */
static inline int valid_label_name(const uint8_t *s, size_t n) { return all_chars(s, n, C_ALPHA, C_ALPHA | C_DIGIT); }

/* Strict UTF-8 as Go's utf8.Valid: no overlongs, surrogates or code points > U+10FFFF. */
static inline int valid_utf8(const uint8_t *s, size_t n) {
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

static inline int is_name_label(const label_ref *l) {
    return l->name_len == 8 && memcmp(l->name, "__name__", 8) == 0;
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

/* Pass 2 for one TimeSeries: samples to the columns; labels sorted, hashed,
 * validated and appended. */
static int fill_series(decoder *d, const uint8_t *p, const uint8_t *end) {
    static const char *const M = "TimeSeries";
    uint32_t field, wt;
    span s;
    label_ref *labels = d->labels;
    size_t n = 0, i = d->series_cur, sample = d->sample_cur;
    int32_t n_hist = 0;
    if (i >= d->n_series) return CHANGED(d);
    while (p < end) {
        if (UNLIKELY(!(p = get_tag(d, M, p, end, &field, &wt)))) return -1;
        switch (field) {
        case 1:
            if (check_wt(d, M, wt, WT_LEN, "labels") || !(p = get_len(d, M, p, end, &s))) return -1;
            if (UNLIKELY(n >= d->max_series_labels)) return CHANGED(d);
            if (parse_label(d, s.p, s.end, &labels[n])) return -1;
            n += labels[n].value_len != 0;
            break;
        case 2:
            if (check_wt(d, M, wt, WT_LEN, "samples") || !(p = get_len(d, M, p, end, &s))) return -1;
            if (UNLIKELY(sample >= d->n_samples)) return CHANGED(d);
            if (parse_sample(d, s.p, s.end, &d->timestamps[sample], &d->values[sample])) return -1;
            sample++;
            break;
        case 3:
            if (check_wt(d, M, wt, WT_LEN, "exemplars") || !(p = get_len(d, M, p, end, &s))) return -1;
            break;
        case 4:
            if (check_wt(d, M, wt, WT_LEN, "histograms") || !(p = get_len(d, M, p, end, &s))) return -1;
            n_hist++;
            break;
        default:
            if (!(p = skip_field(d, M, p, end, wt))) return -1;
        }
    }
    d->sample_cur = sample;

    sort_labels(labels, d->labels_tmp, n);

    uint8_t *h = d->hash_buf, *h_end = d->hash_buf + d->max_series_hash_bytes;
    size_t lc = d->label_cur, nc = d->name_cur, vc = d->value_cur;
    if (n > d->label_cap - lc) return CHANGED(d);
    for (size_t j = 0; j < n; j++) {
        const label_ref *x = &labels[j];
        if (x->name_len + x->value_len + 2 > (size_t)(h_end - h) || x->name_len > d->label_bytes_cap - nc ||
            x->value_len > d->label_bytes_cap - vc)
            return CHANGED(d);
        memcpy(h, x->name, x->name_len);
        h += x->name_len;
        *h++ = 0xff;
        memcpy(h, x->value, x->value_len);
        h += x->value_len;
        *h++ = 0xff;
        memcpy(d->name_data + nc, x->name, x->name_len);
        nc += x->name_len;
        memcpy(d->value_data + vc, x->value, x->value_len);
        vc += x->value_len;
        lc++;
        d->name_offsets[lc] = (int32_t)nc;
        d->value_offsets[lc] = (int32_t)vc;
    }
    d->label_cur = lc;
    d->name_cur = nc;
    d->value_cur = vc;
    d->series_id[i] = xxh64(d->hash_buf, (size_t)(h - d->hash_buf), 0);
    validate_series(d, labels, n, n_hist, &d->error_code[i], &d->error_label[i]);
    d->histogram_count[i] = n_hist;
    d->sample_offsets[i + 1] = (int64_t)sample;
    d->label_offsets[i + 1] = (int64_t)lc;
    d->series_cur = i + 1;
    return 0;
}

/* ----------------------------------------------------------- write request */

static int pass1(decoder *d, const uint8_t *p, const uint8_t *end) {
    static const char *const M = "WriteRequest";
    uint32_t field, wt;
    span s;
    while (p < end) {
        if (!(p = get_tag(d, M, p, end, &field, &wt))) return -1;
        if (field == 1) {
            if (check_wt(d, M, wt, WT_LEN, "timeseries") || !(p = get_len(d, M, p, end, &s)) ||
                count_series(d, s.p, s.end))
                return -1;
            d->n_series++;
        } else if (field == 3) {
            if (check_wt(d, M, wt, WT_LEN, "metadata") || !(p = get_len(d, M, p, end, &s)) ||
                parse_metadata(d, s.p, s.end))
                return -1;
        } else if (!(p = skip_field(d, M, p, end, wt))) {
            return -1;
        }
    }
    return 0;
}

static int pass2(decoder *d, const uint8_t *p, const uint8_t *end) {
    static const char *const M = "WriteRequest";
    uint32_t field, wt;
    span s;
    d->sample_offsets[0] = d->label_offsets[0] = 0;
    d->name_offsets[0] = d->value_offsets[0] = 0;
    while (p < end) {
        if (!(p = get_tag(d, M, p, end, &field, &wt))) return -1;
        if (field == 1) {
            if (check_wt(d, M, wt, WT_LEN, "timeseries") || !(p = get_len(d, M, p, end, &s)) ||
                fill_series(d, s.p, s.end))
                return -1;
        } else if (!(p = skip_field(d, M, p, end, wt))) {
            return -1;
        }
    }
    if (d->series_cur != d->n_series || d->sample_cur != d->n_samples) return CHANGED(d);
    return 0;
}

/* ---------------------------------------------------------------- python */

static PyObject *utf8_lossy(span s) {
    return PyUnicode_DecodeUTF8((const char *)s.p, (Py_ssize_t)(s.end - s.p), "replace");
}

static PyObject *meta_list(const decoder *d) {
    PyObject *list = PyList_New((Py_ssize_t)d->n_meta);
    if (!list) return NULL;
    for (size_t i = 0; i < d->n_meta; i++) {
        const meta_ref *m = &d->meta[i];
        PyObject *t = Py_BuildValue("(iNNN)", (int)(int32_t)(uint32_t)m->type, utf8_lossy(m->name),
                                    utf8_lossy(m->help), utf8_lossy(m->unit));
        if (!t) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, t);
    }
    return list;
}

enum {
    A_SAMPLE_OFFSETS, A_LABEL_OFFSETS, A_SERIES_ID, A_ERROR_CODE, A_ERROR_LABEL, A_HISTOGRAM_COUNT,
    A_TIMESTAMPS, A_VALUES, A_NAME_OFFSETS, A_NAME_DATA, A_VALUE_OFFSETS, A_VALUE_DATA, N_ARRAYS
};

/* Shrinks an output allocated at its pass-1 upper bound to its exact size. */
static int shrink(PyObject **arr, size_t size) {
    if ((size_t)PyBytes_GET_SIZE(*arr) == size) return 0;
    return _PyBytes_Resize(arr, (Py_ssize_t)size);
}

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
    const uint8_t *start = (const uint8_t *)buf.buf, *end = start + buf.len;
    PyObject *arrays[N_ARRAYS] = {NULL};
    PyObject *result = NULL;
    int rc;

    Py_BEGIN_ALLOW_THREADS
    rc = pass1(&d, start, end);
    Py_END_ALLOW_THREADS
    if (rc) goto done;
    if (d.label_bytes_cap > INT32_MAX) {
        set_err(&d, "WriteRequest", "labels exceed 2 GiB");
        goto done;
    }

    size_t sizes[N_ARRAYS] = {
        [A_SAMPLE_OFFSETS] = (d.n_series + 1) * 8, [A_LABEL_OFFSETS] = (d.n_series + 1) * 8,
        [A_SERIES_ID] = d.n_series * 8,            [A_ERROR_CODE] = d.n_series,
        [A_ERROR_LABEL] = d.n_series * 4,          [A_HISTOGRAM_COUNT] = d.n_series * 4,
        [A_TIMESTAMPS] = d.n_samples * 8,          [A_VALUES] = d.n_samples * 8,
        [A_NAME_OFFSETS] = (d.label_cap + 1) * 4,  [A_NAME_DATA] = d.label_bytes_cap,
        [A_VALUE_OFFSETS] = (d.label_cap + 1) * 4, [A_VALUE_DATA] = d.label_bytes_cap,
    };
    for (int k = 0; k < N_ARRAYS; k++) {
        if (!(arrays[k] = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)sizes[k]))) goto done;
    }
#define ARR(k) ((void *)PyBytes_AS_STRING(arrays[k]))
    d.sample_offsets = ARR(A_SAMPLE_OFFSETS);
    d.label_offsets = ARR(A_LABEL_OFFSETS);
    d.series_id = ARR(A_SERIES_ID);
    d.error_code = ARR(A_ERROR_CODE);
    d.error_label = ARR(A_ERROR_LABEL);
    d.histogram_count = ARR(A_HISTOGRAM_COUNT);
    d.timestamps = ARR(A_TIMESTAMPS);
    d.values = ARR(A_VALUES);
    d.name_offsets = ARR(A_NAME_OFFSETS);
    d.name_data = ARR(A_NAME_DATA);
    d.value_offsets = ARR(A_VALUE_OFFSETS);
    d.value_data = ARR(A_VALUE_DATA);
#undef ARR
    d.labels = PyMem_RawMalloc((2 * d.max_series_labels + 1) * sizeof(label_ref));
    d.labels_tmp = d.labels + d.max_series_labels;
    d.hash_buf = PyMem_RawMalloc(d.max_series_hash_bytes + 1);
    if (!d.labels || !d.hash_buf) {
        PyErr_NoMemory();
        goto done;
    }

    Py_BEGIN_ALLOW_THREADS
    rc = pass2(&d, start, end);
    Py_END_ALLOW_THREADS
    if (rc) goto done;

    if (shrink(&arrays[A_NAME_OFFSETS], (d.label_cur + 1) * 4) || shrink(&arrays[A_NAME_DATA], d.name_cur) ||
        shrink(&arrays[A_VALUE_OFFSETS], (d.label_cur + 1) * 4) || shrink(&arrays[A_VALUE_DATA], d.value_cur))
        goto done;

    PyObject *meta = meta_list(&d);
    if (!meta) goto done;
    result = Py_BuildValue("(nnnnNNNNNNNNNNNNN)", (Py_ssize_t)d.n_series, (Py_ssize_t)d.n_samples,
                           (Py_ssize_t)d.label_cur, (Py_ssize_t)d.n_exemplars, arrays[0], arrays[1], arrays[2],
                           arrays[3], arrays[4], arrays[5], arrays[6], arrays[7], arrays[8], arrays[9], arrays[10],
                           arrays[11], meta);
    memset(arrays, 0, sizeof arrays); /* "N" took the references */

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
     "(tuple layout in tsdb/_native/rwdecode.c). Raises ValueError on malformed protobuf."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_rwdecode",
    .m_doc = "Remote-write 1.0 WriteRequest decoder to column buffers (C, GIL released while parsing).",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__rwdecode(void) { return PyModule_Create(&module); }
