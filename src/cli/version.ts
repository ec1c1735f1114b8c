/**
 * The CLI's version, kept equal to package.json's (a test checks). A constant rather than a read of
 * package.json, so `meshwasm --version` prints it without loading commander or touching the disk.
 */
export const VERSION = '0.1.0';
