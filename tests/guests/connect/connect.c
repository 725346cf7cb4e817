// A hostile-ish guest: connects over TCP to the IPv4 `a.b.c.d:port` given
// in `line`, using wasi:sockets directly, and writes "ping" on success.
//
// Prints "connected" and exits 0, or "refused: error N" (the
// wasi:sockets error code) and exits 1.
#include <stdio.h>
#include <stdlib.h>

#include "probe.h"

static int fail(const char *what, int code) {
    printf("refused: %s error %d\n", what, code);
    return 1;
}

int main(void) {
    const char *line = getenv("line");
    unsigned a, b, c, d, port;
    if (line == NULL || sscanf(line, "%u.%u.%u.%u:%u", &a, &b, &c, &d, &port) != 5) {
        printf("usage: a.b.c.d:port\n");
        return 2;
    }

    wasi_sockets_instance_network_own_network_t net =
        wasi_sockets_instance_network_instance_network();
    wasi_sockets_tcp_create_socket_own_tcp_socket_t sock;
    wasi_sockets_tcp_create_socket_error_code_t err;
    if (!wasi_sockets_tcp_create_socket_create_tcp_socket(
            WASI_SOCKETS_NETWORK_IP_ADDRESS_FAMILY_IPV4, &sock, &err)) {
        return fail("create", err);
    }
    wasi_sockets_tcp_borrow_tcp_socket_t s = wasi_sockets_tcp_borrow_tcp_socket(sock);

    wasi_sockets_tcp_ip_socket_address_t remote = {
        .tag = WASI_SOCKETS_NETWORK_IP_SOCKET_ADDRESS_IPV4,
        .val.ipv4 = {.port = (uint16_t)port,
                     .address = {(uint8_t)a, (uint8_t)b, (uint8_t)c, (uint8_t)d}},
    };
    if (!wasi_sockets_tcp_method_tcp_socket_start_connect(
            s, wasi_sockets_network_borrow_network(net), &remote, &err)) {
        return fail("connect", err);
    }

    wasi_sockets_tcp_tuple2_own_input_stream_own_output_stream_t streams;
    wasi_sockets_tcp_own_pollable_t ready = wasi_sockets_tcp_method_tcp_socket_subscribe(s);
    for (;;) {
        if (wasi_sockets_tcp_method_tcp_socket_finish_connect(s, &streams, &err)) break;
        if (err != WASI_SOCKETS_NETWORK_ERROR_CODE_WOULD_BLOCK) return fail("connect", err);
        wasi_io_poll_method_pollable_block(wasi_io_poll_borrow_pollable(ready));
    }

    probe_list_u8_t ping = {.ptr = (uint8_t *)"ping", .len = 4};
    wasi_io_streams_stream_error_t write_err;
    wasi_io_streams_method_output_stream_blocking_write_and_flush(
        wasi_io_streams_borrow_output_stream(streams.f1), &ping, &write_err);
    printf("connected\n");
    return 0;
}
