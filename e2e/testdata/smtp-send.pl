#!/usr/bin/perl
# smtp-send.pl SERVER FROM TO: send one message with Perl's Net::SMTP
# (libnet). It connects through IO::Socket::IP, which tries every address
# getaddrinfo returns for SERVER, in glibc's RFC 6724 order, until one
# accepts: the way a dual-stack MTA client walks an MX host's addresses.
# Exit 0 when the message was accepted, 2 when no address accepted the
# connection, 3 when the server refused the message.
use strict;
use warnings;
use Net::SMTP;

my ($server, $from, $to) = @ARGV;
die "usage: smtp-send.pl SERVER FROM TO\n" unless defined $to;
(my $helo = $from) =~ s/.*@//;

my $smtp = Net::SMTP->new($server, Port => 25, Timeout => 10, Hello => $helo);
if (!$smtp) {
	print "connect $server: failed: $@ ($!)\n";
	exit 2;
}
print "connected to $server [", $smtp->peerhost, "]\n";
my $ok = $smtp->mail($from) && $smtp->to($to) && $smtp->data("Subject: mxsensor e2e\r\n\r\nhello\r\n");
print "server said: ", $smtp->code, " ", $smtp->message;
$smtp->quit;
exit($ok ? 0 : 3);
