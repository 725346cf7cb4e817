;; Prints the guest path of every preopened directory, one per line.
(module
  (import "wasi_snapshot_preview1" "fd_prestat_get"
    (func $prestat (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_dir_name"
    (func $dir_name (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; 0: prestat, 16: iovec, 32: written, 40: "\n",
  ;; 1024: name
  (data (i32.const 40) "\n")
  (func (export "_start")
    (local $fd i32)
    (local.set $fd (i32.const 3))
    (block $done
      (loop $next
        (br_if $done (call $prestat (local.get $fd) (i32.const 0)))
        (drop (call $dir_name (local.get $fd) (i32.const 1024) (i32.load (i32.const 4))))
        (i32.store (i32.const 16) (i32.const 1024))
        (i32.store (i32.const 20) (i32.load (i32.const 4)))
        (drop (call $fd_write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 32)))
        ;; the newline separately: a write may take only its first iovec
        (i32.store (i32.const 16) (i32.const 40))
        (i32.store (i32.const 20) (i32.const 1))
        (drop (call $fd_write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 32)))
        (local.set $fd (i32.add (local.get $fd) (i32.const 1)))
        (br $next)))))
