module asvdso

go 1.19
