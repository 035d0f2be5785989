module vdso-rs/tests/go/getrandom

go 1.24
