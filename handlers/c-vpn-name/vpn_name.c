// A component of the sandbot:handler world, in C.
//
// It checks a proposed VPN client name: lowercase letters, digits and
// dashes, 1 to 32 characters once spaces become dashes. A good name gets
// a reply and fires the `NameAccepted` event, which moves the
// conversation on; a bad one is refused with an error message.
#include <ctype.h>
#include <string.h>

#include "handler.h"

#define MAX_NAME 32

// Appends `len` bytes to `out` at `*at`, within `cap`.
static void append(char *out, size_t cap, size_t *at, const void *src,
                   size_t len) {
    if (len > cap - 1 - *at) len = cap - 1 - *at;
    memcpy(out + *at, src, len);
    *at += len;
    out[*at] = '\0';
}

// Normalises the input into `out`; returns its length, or -1 if invalid.
static int normalise(const handler_string_t *input, char *out) {
    size_t start = 0, end = input->len;
    while (start < end && isspace(input->ptr[start])) start++;
    while (end > start && isspace(input->ptr[end - 1])) end--;
    if (end == start || end - start > MAX_NAME) return -1;
    for (size_t i = start; i < end; i++) {
        char c = (char)tolower(input->ptr[i]);
        if (c == ' ') c = '-';
        if (!(isalnum((unsigned char)c) || c == '-')) return -1;
        out[i - start] = c;
    }
    out[end - start] = '\0';
    return (int)(end - start);
}

bool exports_handler_handle(handler_request_t *request, handler_reply_t *ret,
                            handler_string_t *err) {
    char name[MAX_NAME + 1];
    char text[256];
    if (normalise(&request->input, name) < 0) {
        handler_string_dup(err, "a client name is 1 to 32 letters, digits, "
                                "spaces or dashes");
        handler_request_free(request);
        return false;
    }
    size_t at = 0;
    append(text, sizeof text, &at, request->user.name.ptr,
           request->user.name.len);
    append(text, sizeof text, &at, ", the name \"", 12);
    append(text, sizeof text, &at, name, strlen(name));
    append(text, sizeof text, &at, "\" is free.", 10);
    handler_string_dup(&ret->text, text);
    ret->event.is_some = true;
    handler_string_dup(&ret->event.val, "NameAccepted");
    handler_request_free(request);
    return true;
}
