//! France (Windows "French"): AZERTY; digits on Shift; dead `^` and `¨`; AltGr+é and AltGr+è
//! are dead `~` and `` ` ``.

use super::{N, Row, c, d, key, key3, letter};
use crate::keycode::*;

#[rustfmt::skip]
pub(super) const ROWS: &[Row] = &[
    key(KEY_GRAVE, c('²'), N),
    key(KEY_1, c('&'), c('1')),
    key3(KEY_2, c('é'), c('2'), d('~')),
    key3(KEY_3, c('"'), c('3'), c('#')),
    key3(KEY_4, c('\''), c('4'), c('{')),
    key3(KEY_5, c('('), c('5'), c('[')),
    key3(KEY_6, c('-'), c('6'), c('|')),
    key3(KEY_7, c('è'), c('7'), d('`')),
    key3(KEY_8, c('_'), c('8'), c('\\')),
    key3(KEY_9, c('ç'), c('9'), c('^')),
    key3(KEY_0, c('à'), c('0'), c('@')),
    key3(KEY_MINUS, c(')'), c('°'), c(']')),
    key3(KEY_EQUAL, c('='), c('+'), c('}')),
    letter(KEY_Q, 'a'),
    letter(KEY_W, 'z'),
    key3(KEY_E, c('e'), c('E'), c('€')),
    letter(KEY_R, 'r'), letter(KEY_T, 't'), letter(KEY_Y, 'y'), letter(KEY_U, 'u'),
    letter(KEY_I, 'i'), letter(KEY_O, 'o'), letter(KEY_P, 'p'),
    key(KEY_LEFTBRACE, d('^'), d('¨')),
    key3(KEY_RIGHTBRACE, c('$'), c('£'), c('¤')),
    letter(KEY_A, 'q'),
    letter(KEY_S, 's'), letter(KEY_D, 'd'), letter(KEY_F, 'f'), letter(KEY_G, 'g'),
    letter(KEY_H, 'h'), letter(KEY_J, 'j'), letter(KEY_K, 'k'), letter(KEY_L, 'l'),
    letter(KEY_SEMICOLON, 'm'),
    key(KEY_APOSTROPHE, c('ù'), c('%')),
    key(KEY_BACKSLASH, c('*'), c('µ')),
    key(KEY_102ND, c('<'), c('>')),
    letter(KEY_Z, 'w'),
    letter(KEY_X, 'x'), letter(KEY_C, 'c'), letter(KEY_V, 'v'), letter(KEY_B, 'b'),
    letter(KEY_N, 'n'),
    key(KEY_M, c(','), c('?')),
    key(KEY_COMMA, c(';'), c('.')),
    key(KEY_DOT, c(':'), c('/')),
    key(KEY_SLASH, c('!'), c('§')),
    key(KEY_SPACE, c(' '), c(' ')),
];
