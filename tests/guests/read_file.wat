;; Reads the path given on stdin relative to the first preopen (fd 3,
;; following symlinks) and prints the file. Prints "denied" and exits 1
;; when the open fails.
(module
  (import "wasi_snapshot_preview1" "fd_read"
    (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  ;; 0: iovec, 8: count, 12: opened fd, 16: written, 32: message,
  ;; 1024: path, 8192: data
  (data (i32.const 32) "denied\n")
  (func $write (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 16))))
  (func (export "_start")
    (local $fd i32)
    (i32.store (i32.const 0) (i32.const 1024))
    (i32.store (i32.const 4) (i32.const 1024))
    (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
    ;; dirflags 1 = follow symlinks; rights 2 = fd_read
    (if (call $path_open (i32.const 3) (i32.const 1) (i32.const 1024)
          (i32.load (i32.const 8)) (i32.const 0) (i64.const 2) (i64.const 0)
          (i32.const 0) (i32.const 12))
      (then
        (call $write (i32.const 32) (i32.const 7))
        (call $proc_exit (i32.const 1))))
    (local.set $fd (i32.load (i32.const 12)))
    (loop $more
      (i32.store (i32.const 0) (i32.const 8192))
      (i32.store (i32.const 4) (i32.const 4096))
      (drop (call $fd_read (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8)))
      (if (i32.load (i32.const 8))
        (then
          (call $write (i32.const 8192) (i32.load (i32.const 8)))
          (br $more))))))
