// Package getopt parses command lines the way glibc's getopt_long does, so
// that fbtftp-master accepts in.tftpd's command lines unchanged: short
// options that can be grouped ("-vvL"), arguments attached or separate
// ("-a:69", "-a :69"), long options with "=" or a separate argument,
// unambiguous abbreviations of long options ("--addr"), operands anywhere
// (permuted to the end) and "--" to end the options.
package getopt
