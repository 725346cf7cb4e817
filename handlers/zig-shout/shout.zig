//! A preview 1 handler in Zig: replies with the input in capitals.
//!
//! It reads the input from stdin (the contract also puts it in `line`)
//! and talks to WASI directly, so it needs nothing from Zig's standard
//! I/O layer beyond the raw preview 1 calls. Empty input exits with 2.
const std = @import("std");
const wasi = std.os.wasi;

fn writeAll(bytes: []const u8) void {
    var rest = bytes;
    while (rest.len > 0) {
        const iov = [_]wasi.ciovec_t{.{ .base = rest.ptr, .len = rest.len }};
        var written: usize = 0;
        if (wasi.fd_write(1, &iov, 1, &written) != .SUCCESS) return;
        rest = rest[written..];
    }
}

pub fn main() u8 {
    var buffer: [4096]u8 = undefined;
    var filled: usize = 0;
    while (filled < buffer.len) {
        const iov = [_]wasi.iovec_t{.{ .base = buffer[filled..].ptr, .len = buffer.len - filled }};
        var got: usize = 0;
        if (wasi.fd_read(0, &iov, 1, &got) != .SUCCESS or got == 0) break;
        filled += got;
    }
    const input = std.mem.trim(u8, buffer[0..filled], " \t\r\n");
    if (input.len == 0) {
        writeAll("Nothing to shout.\n");
        return 2;
    }
    for (buffer[0..filled]) |*c| c.* = std.ascii.toUpper(c.*);
    writeAll(std.mem.trim(u8, buffer[0..filled], " \t\r\n"));
    writeAll("!\n");
    return 0;
}
