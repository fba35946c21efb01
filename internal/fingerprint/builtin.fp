; mxsensor's own SYN signatures, in the p0f v3 database format.
;
; These complement the stock p0f database (which stops around 2014) with
; current systems and the common Internet-wide scanners. Every entry was
; written for this project from the public facts cited beside it; none is
; taken from p0f.fp or another signature collection.
;
; Field reminder:  sig = ver:ittl:olen:mss:wsize,scale:olayout:quirks:pclass
;
; JA4T, cited below, is FoxIO's TCP fingerprint: window_options_mss_wscale,
; with the options as kind numbers (2 mss, 1 nop, 3 ws, 4 sok, 8 ts, 0 eol).
; The examples are in technical_details/JA4T.md of github.com/FoxIO-LLC/ja4.

classes = win,unix,other

[tcp:request]

; ---------------------------------------------------------------------------
; Windows 10 and 11.
;
; JA4T lists Windows 10 as 64240_2-1-3-1-1-4_1460_8: window 64240, options
; mss,nop,ws,nop,nop,sok, window scale 8. Windows' initial TTL is 128 and it
; sends SYNs with DF and a running IP ID. Some builds and settings advertise
; 65535 with the same options. The second line of each pair is the IPv6 form
; in case a flow label is set.

label = s:win:Windows:10 or 11
sig   = *:128:0:*:64240,8:mss,nop,ws,nop,nop,sok:df,id+:0
sig   = 6:128:0:*:64240,8:mss,nop,ws,nop,nop,sok:flow:0
sig   = *:128:0:*:65535,8:mss,nop,ws,nop,nop,sok:df,id+:0
sig   = 6:128:0:*:65535,8:mss,nop,ws,nop,nop,sok:flow:0

; ---------------------------------------------------------------------------
; Windows Vista, 7, 8 and Server 2008/2012.
;
; With receive window auto-tuning (Vista and later) the SYN advertises a
; window of 8192 with window scale 8 (2 when auto-tuning is "restricted"),
; options mss,nop,ws,nop,nop,sok, initial TTL 128. The stock p0f database
; knows these; they are repeated here so that the built-in database alone
; (no /etc/p0f/p0f.fp) still names them. The IPv4 quirks do not apply to
; IPv6 SYNs, so the same lines cover both families.

label = s:win:Windows:7 or 8
sig   = *:128:0:*:8192,8:mss,nop,ws,nop,nop,sok:df,id+:0
sig   = *:128:0:*:8192,2:mss,nop,ws,nop,nop,sok:df,id+:0

; ---------------------------------------------------------------------------
; Linux 4.19 and newer.
;
; Since Linux 4.19 (commit "tcp: up initial rmem to 128KB and SYN rwin to
; around 64KB") the SYN window is 65535 rounded down to a multiple of the
; MSS: 44 x 1460 = 64240 over IPv4 on Ethernet, 45 x 1440 = 64800 over IPv6.
; The option order mss,sok,ts,nop,ws and the window scale 7 of the default
; tcp_rmem (larger buffers give 8 to 10) match JA4T's "WSL Ubuntu"
; 64240_2-4-8-1-3_1460_7. A SYN captured on this project's Linux 6.18
; build host (testdata/fingerprint/linux-6.18-veth.pcap) shows DF with a
; non-zero IP ID over IPv4 and a flow label over IPv6 (auto_flowlabels=1,
; the default), window scale 10 from its 32 MiB tcp_rmem.

label = s:unix:Linux:4.19 and newer
sig   = *:64:0:*:mss*44,7:mss,sok,ts,nop,ws:df,id+,flow:0
sig   = *:64:0:*:mss*45,7:mss,sok,ts,nop,ws:df,id+,flow:0
sig   = *:64:0:*:mss*44,8:mss,sok,ts,nop,ws:df,id+,flow:0
sig   = *:64:0:*:mss*45,8:mss,sok,ts,nop,ws:df,id+,flow:0
sig   = *:64:0:*:mss*44,9:mss,sok,ts,nop,ws:df,id+,flow:0
sig   = *:64:0:*:mss*45,9:mss,sok,ts,nop,ws:df,id+,flow:0
sig   = *:64:0:*:mss*44,10:mss,sok,ts,nop,ws:df,id+,flow:0
sig   = *:64:0:*:mss*45,10:mss,sok,ts,nop,ws:df,id+,flow:0
; IPv6 with auto_flowlabels turned off.
sig   = 6:64:0:*:mss*45,7:mss,sok,ts,nop,ws::0

; Other window scales (other buffer sizes) with the same window rule.
label = g:unix:Linux:4.19 and newer
sig   = *:64:0:*:mss*44,*:mss,sok,ts,nop,ws:df,id+,flow:0
sig   = *:64:0:*:mss*45,*:mss,sok,ts,nop,ws:df,id+,flow:0
sig   = 6:64:0:*:mss*45,*:mss,sok,ts,nop,ws::0

; ---------------------------------------------------------------------------
; macOS and iOS (one TCP stack, XNU).
;
; JA4T lists "Mac OSX / iPhone" as 65535_2-1-3-1-1-8-4-0-0_1460_6: window
; 65535, options mss,nop,ws,nop,nop,ts,sok then EOL and one padding byte
; (eol+1 in p0f terms), window scale 6. Initial TTL 64, DF with a non-zero
; IP ID. The 6: line covers IPv6 with a flow label.

; ---------------------------------------------------------------------------
; Linux 3.x to 4.18.
;
; Before 4.19 the initial receive window was 10 segments (RFC 6928's initial
; window, mss*10) or, with the default tcp_rmem, 29200 = mss*20 with
; MSS 1460, window scale 7; same option order as newer kernels. IPv6 SYNs
; match the first lines; the flow-label lines are for kernels that set one.

label = s:unix:Linux:3.x-4.18
sig   = *:64:0:*:mss*20,7:mss,sok,ts,nop,ws:df,id+:0
sig   = *:64:0:*:mss*10,7:mss,sok,ts,nop,ws:df,id+:0
sig   = 6:64:0:*:mss*20,7:mss,sok,ts,nop,ws:flow:0
sig   = 6:64:0:*:mss*10,7:mss,sok,ts,nop,ws:flow:0

label = s:unix:Mac OS X:recent, or iOS
sig   = *:64:0:*:65535,6:mss,nop,ws,nop,nop,ts,sok,eol+1:df,id+:0
sig   = 6:64:0:*:65535,6:mss,nop,ws,nop,nop,ts,sok,eol+1:flow:0

; ---------------------------------------------------------------------------
; FreeBSD.
;
; FreeBSD sends window 65535 with options mss,nop,ws,sok,ts. Its window
; scale is the smallest shift that lets 65535 reach kern.ipc.maxsockbuf
; (tcp_connect() in sys/netinet/tcp_usrreq.c): 6 with the default 2 MiB,
; 9 with a common 16 MiB tuning. With the net.inet.ip.rfc6864 sysctl (on
; by default in current releases) a DF packet carries IP ID 0, so "df"
; without "id+"; older releases send a non-zero ID.

label = s:unix:FreeBSD:
sig   = *:64:0:*:65535,6:mss,nop,ws,sok,ts:df:0
sig   = *:64:0:*:65535,6:mss,nop,ws,sok,ts:df,id+:0
sig   = *:64:0:*:65535,9:mss,nop,ws,sok,ts:df:0
sig   = 6:64:0:*:65535,6:mss,nop,ws,sok,ts:flow:0

label = g:unix:FreeBSD:
sig   = *:64:0:*:65535,*:mss,nop,ws,sok,ts:df:0

; ---------------------------------------------------------------------------
; Scanners. These are applications ("!" class): p0f reports them as app=
; and never matches them fuzzily.

; ZMap. Its probe modules (src/probe_modules/packet.c, module_tcp_synscan.c
; in github.com/zmap/zmap) build IPv4 SYNs with TTL 255, IP ID 54321, no
; DF and window 65535. Early releases sent no TCP options (JA4T lists ZMap
; as 65535_00_00_00); later ones a lone MSS 1460 option (set_mss_option).
; ZMap 4 defaults to Windows-like options whose values are not covered here.
label = s:!:ZMap:SYN scan
sys   = @unix
sig   = 4:255:0:*:65535,0:::0
sig   = 4:255:0:1460:65535,0:mss::0

; masscan. Its packet template (src/templ-pkt.c in
; github.com/robertdavidgraham/masscan) is an IPv4 SYN with TTL 255, no DF
; and an IP ID derived from address, port and sequence number. Older
; releases sent window 1024 and no options (the template's MSS bytes lay
; past its IP length; JA4T's "Web Scanner" is 1024_00_00_00); current ones
; set the window bytes to 0x0401 (1025) and send MSS 1460.
label = s:!:masscan:SYN scan
sys   = @unix
sig   = 4:255:0:1460:1025,0:mss::0
sig   = 4:255:0:*:1024,0:::0

; Nmap's SYN scan. JA4T lists Nmap as 1024_2_1460_00: window 1024 and a lone
; MSS 1460 option; Nmap also uses windows of 2048, 3072 and 4096 (the
; "ET SCAN NMAP -sS window N" rules of Emerging Threats match those four).
; Its raw packets get a random TTL below 64 by default, hence "64-".
label = s:!:Nmap:SYN scan
sys   = @unix,@win
sig   = *:64-:0:1460:1024,0:mss::0
sig   = *:64-:0:1460:2048,0:mss::0
sig   = *:64-:0:1460:3072,0:mss::0
sig   = *:64-:0:1460:4096,0:mss::0
