//! United States (Windows "US"): QWERTY, no AltGr, no dead keys.

use super::{Row, c, key, letter};
use crate::keycode::*;

#[rustfmt::skip]
pub(super) const ROWS: &[Row] = &[
    key(KEY_GRAVE, c('`'), c('~')),
    key(KEY_1, c('1'), c('!')),
    key(KEY_2, c('2'), c('@')),
    key(KEY_3, c('3'), c('#')),
    key(KEY_4, c('4'), c('$')),
    key(KEY_5, c('5'), c('%')),
    key(KEY_6, c('6'), c('^')),
    key(KEY_7, c('7'), c('&')),
    key(KEY_8, c('8'), c('*')),
    key(KEY_9, c('9'), c('(')),
    key(KEY_0, c('0'), c(')')),
    key(KEY_MINUS, c('-'), c('_')),
    key(KEY_EQUAL, c('='), c('+')),
    letter(KEY_Q, 'q'), letter(KEY_W, 'w'), letter(KEY_E, 'e'), letter(KEY_R, 'r'),
    letter(KEY_T, 't'), letter(KEY_Y, 'y'), letter(KEY_U, 'u'), letter(KEY_I, 'i'),
    letter(KEY_O, 'o'), letter(KEY_P, 'p'),
    key(KEY_LEFTBRACE, c('['), c('{')),
    key(KEY_RIGHTBRACE, c(']'), c('}')),
    letter(KEY_A, 'a'), letter(KEY_S, 's'), letter(KEY_D, 'd'), letter(KEY_F, 'f'),
    letter(KEY_G, 'g'), letter(KEY_H, 'h'), letter(KEY_J, 'j'), letter(KEY_K, 'k'),
    letter(KEY_L, 'l'),
    key(KEY_SEMICOLON, c(';'), c(':')),
    key(KEY_APOSTROPHE, c('\''), c('"')),
    key(KEY_BACKSLASH, c('\\'), c('|')),
    letter(KEY_Z, 'z'), letter(KEY_X, 'x'), letter(KEY_C, 'c'), letter(KEY_V, 'v'),
    letter(KEY_B, 'b'), letter(KEY_N, 'n'), letter(KEY_M, 'm'),
    key(KEY_COMMA, c(','), c('<')),
    key(KEY_DOT, c('.'), c('>')),
    key(KEY_SLASH, c('/'), c('?')),
    key(KEY_102ND, c('\\'), c('|')),
    key(KEY_SPACE, c(' '), c(' ')),
];
