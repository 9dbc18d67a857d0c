/**
 * The 13 end-of-data variants used in SMTP smuggling attacks: byte sequences that
 * some servers take for the end of DATA although only CR LF "." CR LF is.
 */
export const END_OF_DATA_VARIANTS: readonly [string, string][] = [
  ['LF.LF', '\n.\n'],
  ['LF.CRLF', '\n.\r\n'],
  ['CRLF.LF', '\r\n.\n'],
  ['CR.CR', '\r.\r'],
  ['CR.LF', '\r.\n'],
  ['LF.CR', '\n.\r'],
  ['CR.CRLF', '\r.\r\n'],
  ['CRLF.CR', '\r\n.\r'],
  ['CRLF.CRCRLF', '\r\n.\r\r\n'],
  ['CRCRLF.CRCRLF', '\r\r\n.\r\r\n'],
  ['NUL before dot', '\r\n\0.\r\n'],
  ['NUL after dot', '\r\n.\0\r\n'],
  ['LF..CRLF', '\n..\r\n'],
];
