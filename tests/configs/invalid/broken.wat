(module (func $broken (result i32)))
