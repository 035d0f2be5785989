//! `--as-vdso`: every exec at any depth gets the image, whoever makes it,
//! and threads and forked children keep it.

mod support;

use support::*;

/// Every `monotonic` reading PROGRAM printed is ten days ahead; returns the run.
fn ten_days_ahead(program: &[&str], expected: usize) -> Run {
    // Readings come after PROGRAM starts, up to a few seconds on a loaded
    // machine (the shell script runs four programs, python3 last): any time
    // before it ended.
    monotonic_ten_days_ahead(as_vdso(), program, expected, None)
}

#[test]
fn a_shell_script_s_grandchildren_see_the_namespace_and_the_image() {
    // sh runs the script, which runs each program from a subshell of a
    // second sh: PROGRAM's grandchildren and great-grandchildren.
    let len = image_bytes(true).len();
    let mut script = String::from("#!/bin/sh\n");
    for p in four_programs() {
        let quoted: Vec<String> = p
            .with(&["clocks", "image", &len.to_string()])
            .iter()
            .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
            .collect();
        script.push_str(&format!(
            "sh -c '( \"$@\" ) | sed \"s/^/{}_/\"' sh {}\n",
            p.name,
            quoted.join(" ")
        ));
    }
    let path = executable_file("grandchildren.sh", script.as_bytes());
    let run = ten_days_ahead(&["sh", path.to_str().expect("utf-8")], 4);
    let values = run.values();
    for p in four_programs() {
        let key = format!("{}_image", p.name);
        let image = values
            .get(&key)
            .unwrap_or_else(|| panic!("no {key}:\n{}", run.stdout));
        assert!(
            unhex(image) == image_bytes(true),
            "{}: not the timens image",
            p.name
        );
    }
}

#[test]
fn threads_and_forked_children_keep_the_image() {
    let clocks = c_program("clocks");
    let clocks = clocks.to_str().expect("utf-8");
    ten_days_ahead(&[clocks, "threads"], 4);
    let run = ten_days_ahead(&[clocks, "fork"], 2);
    assert!(run.stdout.contains("child monotonic"), "{}", run.stdout);
}

#[test]
fn every_way_of_exec_ing_gets_the_image() {
    let clocks = c_program("clocks");
    let clocks = clocks.to_str().expect("utf-8");
    // execve, execveat (fexecve), posix_spawn (vfork) and the execvp
    // family; the environment does not matter to this mode.
    for mode in [
        "execve_empty",
        "fexecve_empty",
        "posix_spawn_empty",
        "posix_spawnp_empty",
        "execvp_clearenv",
    ] {
        ten_days_ahead(&[clocks, "exec", mode, clocks], 1);
    }
    ten_days_ahead(&["env", "-i", clocks], 1);
}

#[test]
fn an_exec_from_a_second_thread_gets_the_image() {
    // The kernel gives the exec'ing thread the leader's id.
    for prog in asvdso_programs() {
        let prog = prog.to_str().expect("utf-8");
        let run = ten_days_ahead(&[prog, "thread-exec", prog], 1);
        assert!(run.stdout.contains("boottime"), "{}", run.stdout);
    }
}

#[test]
fn a_descendant_that_becomes_another_user_gets_the_image() {
    // Whatever vdso-run's umask, every user can open the namespace file
    // (it holds only the clocks): a root shell drops to nobody and execs.
    let built = musl_program("asvdso");
    let public = Public::new(&[&built]);
    let script = format!(
        "umask 077; exec {} --as-vdso --monotonic +10d -- setpriv --reuid={NOBODY} \
         --regid={NOBODY} --clear-groups {} clocks",
        public.vdso_run_line(),
        public.path(&built).display()
    );
    assert_ten_days_ahead_as_nobody(&script);
}
