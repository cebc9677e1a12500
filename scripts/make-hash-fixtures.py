#!/usr/bin/python3
"""Writes the password-hash fixtures of issue 14 with the Python libraries that made the hashes.

Run with Debian's Python (python3-passlib, python3-bcrypt, python3-argon2), not a pyenv one:

    /usr/bin/python3 scripts/make-hash-fixtures.py

It writes, relative to the repository root:

- test/fixtures/foreign-hashes.json: one case per format and variant, each with the password,
  the hash, other passwords passlib also ACCEPTS (bcrypt's 72-byte truncation) and passwords it
  REFUSES, each refusal with passlib's answer (False, or the exception it raises). Every claim
  is checked here against passlib's CryptContext, the way a FastAPI app verifies, and argon2
  hashes also against argon2-cffi, before anything is written.
- test/fixtures/import/*.json: import files in the contract's shapes (see CONTRACT.md,
  "Importing users"), valid ones and invalid ones, with hashes made by passlib for the
  passwords in IMPORT_PASSWORDS (the TypeScript tests repeat them).

Salts are random: every run writes new hashes. Commit the JSON together with this script.
Non-ASCII passwords are written as \\u escapes, so no editor can re-normalise them.
"""

import hashlib
import json
import os
import sys
import unicodedata
import warnings
from pathlib import Path

import argon2
import argon2.low_level as argon2_ll
import bcrypt as bcrypt_lib
import passlib
import passlib.hash
from passlib.context import CryptContext
from passlib.exc import PasswordSizeError
from passlib.hash import argon2 as passlib_argon2
from passlib.hash import bcrypt as passlib_bcrypt
from passlib.hash import pbkdf2_sha256
from passlib.utils.binary import ab64_encode

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / 'test' / 'fixtures'

# How a FastAPI app verifies: passlib's CryptContext, which picks the handler from the hash.
CONTEXT = CryptContext(schemes=['bcrypt', 'pbkdf2_sha256', 'argon2'])

# The passwords behind the import fixtures' hashes (the TypeScript tests use the same values).
IMPORT_PASSWORDS = {
    'johndoe': 'secret',  # the FastAPI tutorial's password for johndoe
    'alice': 'secret2',
    'bob': 'correct horse battery staple',
    'carol': 'P\u00e4ssw\u00f6rd mit \u00dcml\u00e4uten',
    'dave': 'dave-password-1',
    'admin@example.com': 'changethis-admin',  # the full-stack template's FIRST_SUPERUSER
    'user@example.com': 'user-password-1',
    'former@example.com': 'former-password-1',
}


def passlib_answer(password, hash):
    """passlib's verdict: True, False, or the name and message of the exception it raises."""
    with warnings.catch_warnings():
        # passlib warns (and still verifies) on bcrypt hashes with non-zero padding bits.
        warnings.simplefilter('ignore')
        try:
            return CONTEXT.verify(password, hash)
        except (ValueError, TypeError) as error:
            return f'{type(error).__name__}: {error}'


def argon2_cffi_answer(password, hash):
    try:
        return argon2.PasswordHasher().verify(hash, password)
    except argon2.exceptions.VerifyMismatchError:
        return False


def case(name, format, hash, password, accepts=(), refuses=(), note=None):
    """One fixture case; asserts every claim against passlib (and argon2-cffi for argon2)."""
    answers = [passlib_answer(password, hash)] + [passlib_answer(p, hash) for p in accepts]
    assert all(a is True for a in answers), (name, answers)
    refusals = []
    for wrong in refuses:
        answer = passlib_answer(wrong, hash)
        assert answer is not True, (name, wrong)
        refusals.append({'password': wrong, 'passlib': answer if isinstance(answer, str) else 'False'})
    if format == 'argon2':
        assert argon2_cffi_answer(password, hash) is True, name
        assert all(argon2_cffi_answer(p, hash) is False for p in refuses), name
    result = {'name': name, 'format': format, 'hash': hash, 'password': password}
    if accepts:
        result['accepts'] = list(accepts)
    result['refuses'] = refusals
    if note:
        result['note'] = note
    return result


def utf8_len(text):
    return len(text.encode('utf-8'))


def bcrypt_hash(password, ident='2b', rounds=4):
    return passlib_bcrypt.using(ident=ident, rounds=rounds).hash(password)


def with_dirty_padding(hash):
    """A bcrypt hash whose salt and checksum have their unused low bits set: passlib still
    verifies it (with a PasslibHashWarning), the pyca/bcrypt library alone does not."""
    alphabet = './ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'
    head, salt, checksum = hash[:7], hash[7:29], hash[29:]
    salt = salt[:-1] + alphabet[alphabet.index(salt[-1]) | 0x0F]
    checksum = checksum[:-1] + alphabet[alphabet.index(checksum[-1]) | 0x03]
    dirty = head + salt + checksum
    assert dirty != hash and not bcrypt_lib.checkpw(b'secret', dirty.encode('ascii'))
    return dirty


def argon2_hash(password, type, time_cost, memory_cost, parallelism, hash_len=32, salt_len=16, version=19):
    return argon2_ll.hash_secret(password.encode('utf-8'), os.urandom(salt_len), time_cost, memory_cost,
                                 parallelism, hash_len, type, version=version).decode('ascii')


def foreign_hash_cases():
    cases = []
    ascii80 = 'The quick brown fox jumps over the lazy dog; bcrypt keeps 72 bytes'.ljust(72, '.') + '|8 more!'
    assert utf8_len(ascii80) == 80 and utf8_len(ascii80[:72]) == 72
    # 'a' then 40 two-byte characters: byte 72 is the first half of the 36th 'é'.
    split = 'a' + '\u00e9' * 40
    assert utf8_len(split) == 81
    # 'Ã' is C3 83: it starts with the same byte C3 as 'é' (C3 A9), the only one of its bytes bcrypt sees.
    same_first_72 = 'a' + '\u00e9' * 35 + '\u00c3'
    assert split.encode()[:72] == same_first_72.encode()[:72]
    emoji = 'x' * 70 + '\U0001f511' * 3  # 70 + 12 bytes: the 72-byte cut falls inside the first key
    long_multibyte = '\u00e9' * 2048  # exactly 4096 UTF-8 bytes: passlib's MAX_PASSWORD_SIZE

    cases.append(case(
        'passlib bcrypt $2b$, cost 12 (passlib default, as in the FastAPI tutorial)', 'bcrypt',
        CONTEXT.hash('secret'), 'secret',
        refuses=['Secret', 'secret ', 'secre', '', 'secret\u0000', 'secret\u0000x'],
        note='passlib raises PasswordValueError for a NUL byte instead of letting bcrypt stop at it'))
    cases.append(case('passlib bcrypt $2a$', 'bcrypt', bcrypt_hash('tutorial-2a', '2a', 5), 'tutorial-2a',
                      refuses=['tutorial-2b', 'TUTORIAL-2A']))
    cases.append(case('passlib bcrypt $2y$ (PHP-style ident)', 'bcrypt', bcrypt_hash('tutorial-2y', '2y', 5), 'tutorial-2y',
                      refuses=['tutorial-2b']))
    password = 'p\u00e4ssw\u00f6rd \u00f1 \u5bc6\u7801 \U0001f511'
    cases.append(case(
        'passlib bcrypt $2b$, non-ASCII password (UTF-8 bytes, no normalisation)', 'bcrypt',
        bcrypt_hash(password), password,
        refuses=[unicodedata.normalize('NFD', password), 'passw\u00f6rd \u00f1 \u5bc6\u7801 \U0001f511']))
    cases.append(case(
        'passlib bcrypt $2b$, 80 ASCII bytes: only the first 72 count', 'bcrypt',
        bcrypt_hash(ascii80), ascii80,
        accepts=[ascii80[:72], ascii80[:72] + 'anything else at all'],
        refuses=[ascii80[:71], 'X' + ascii80[1:], ascii80[:72] + '\u0000 after the cut'],
        note='a NUL byte is refused even after byte 72, where bcrypt would never see it'))
    cases.append(case(
        'passlib bcrypt $2b$, 81 bytes, the cut at byte 72 splits a two-byte character', 'bcrypt',
        bcrypt_hash(split), split,
        accepts=[same_first_72, 'a' + '\u00e9' * 36, split + 'zzz'],
        refuses=['a' + '\u00e9' * 35, 'a' + '\u00e8' * 40],
        note='the truncation counts UTF-8 bytes, not characters: half a character is kept'))
    cases.append(case(
        'passlib bcrypt $2b$, 82 bytes, the cut falls inside a four-byte emoji', 'bcrypt',
        bcrypt_hash(emoji), emoji,
        accepts=['x' * 70 + '\U0001f512', 'x' * 70 + '\U0001f511'],
        refuses=['x' * 70, 'x' * 70 + '\u00f0\u009f']))
    cases.append(case(
        'passlib bcrypt $2a$, 300 bytes (past the old 2a wraparound at 255)', 'bcrypt',
        bcrypt_hash('z' * 300, '2a'), 'z' * 300,
        accepts=['z' * 72, 'z' * 255, 'z' * 256],
        refuses=['z' * 71, 'z' * 44]))
    cases.append(case(
        'passlib bcrypt $2y$, 4096 UTF-8 bytes (passlib\'s maximum); one byte more is refused', 'bcrypt',
        bcrypt_hash(long_multibyte, '2y'), long_multibyte,
        accepts=['\u00e9' * 36],
        refuses=['\u00e9' * 2048 + 'x', '\u00e9' * 2049],
        note='passlib checks the size before truncating: 4097+ bytes raise PasswordSizeError'))
    cases.append(case(
        'passlib bcrypt $2b$ with non-zero padding bits in salt and checksum', 'bcrypt',
        with_dirty_padding(bcrypt_hash('secret')), 'secret', refuses=['Secret'],
        note='passlib warns and repairs the unused bits; pyca/bcrypt alone refuses this hash'))

    cases.append(case(
        'passlib pbkdf2_sha256, default rounds (29000) and 16-byte salt', 'pbkdf2-sha256',
        pbkdf2_sha256.hash('secret'), 'secret', refuses=['Secret', 'secret ', '']))
    password = '\ufb01sh \uff50\uff41\uff53\uff53 caf\u00e9'  # a ligature and full-width letters: not NFKC-normal
    assert unicodedata.normalize('NFKC', password) != password
    cases.append(case(
        'passlib pbkdf2_sha256, 1000 rounds, 32-byte salt, non-NFKC password', 'pbkdf2-sha256',
        pbkdf2_sha256.using(rounds=1000, salt_size=32).hash(password), password,
        refuses=[unicodedata.normalize('NFKC', password)],
        note='passlib does not normalise: the NFKC form of the password is a different password'))
    cases.append(case(
        'passlib pbkdf2_sha256, 12345 rounds, 80-byte password (no truncation)', 'pbkdf2-sha256',
        pbkdf2_sha256.using(rounds=12345).hash(ascii80), ascii80,
        refuses=[ascii80[:72], ascii80 + ' ']))
    salt = b'\xfb\xef\xbe\xfb\xef\xbe' + bytes(10)  # encodes with '.' (ab64's '+')
    hash = pbkdf2_sha256.using(rounds=2000, salt=salt).hash('dots')
    assert '.' in hash.split('$')[3]
    cases.append(case('passlib pbkdf2_sha256, salt with \'.\' characters (adapted base64)', 'pbkdf2-sha256',
                      hash, 'dots', refuses=['Dots']))
    plus = hash.split('$')
    plus[3] = plus[3].replace('.', '+')
    cases.append(case('passlib pbkdf2_sha256 written with standard \'+\' (ab64_decode accepts both)', 'pbkdf2-sha256',
                      '$'.join(plus), 'dots', refuses=['Dots']))

    cases.append(case(
        'passlib argon2 (argon2-cffi 21 defaults: argon2id m=102400,t=2,p=8, 16-byte digest)', 'argon2',
        passlib_argon2.hash('secret'), 'secret', refuses=['Secret', '']))
    cases.append(case(
        'argon2-cffi argon2id m=65536,t=3,p=4 (RFC 9106 low-memory, pwdlib and the full-stack template)', 'argon2',
        argon2_hash('secret', argon2_ll.Type.ID, 3, 65536, 4), 'secret', refuses=['secret!']))
    cases.append(case(
        'passlib argon2i m=4096,t=3,p=2', 'argon2',
        passlib_argon2.using(type='I', memory_cost=4096, rounds=3, parallelism=2).hash('argon2i-secret'),
        'argon2i-secret', refuses=['argon2i-Secret']))
    cases.append(case(
        'argon2-cffi argon2i, version 0x10 (v=16), 8-byte salt', 'argon2',
        argon2_hash('old-argon2', argon2_ll.Type.I, 2, 1024, 1, version=16, salt_len=8), 'old-argon2',
        refuses=['old-argon']))
    cases.append(case(
        'argon2-cffi argon2d m=2048,t=1,p=1', 'argon2',
        argon2_hash('argon2d-secret', argon2_ll.Type.D, 1, 2048, 1), 'argon2d-secret', refuses=['argon2d']))
    password = '\uff50\uff41\uff53\uff53 \ufb01sh 80 bytes? ' + 'no: argon2 has no length limit ' * 2
    cases.append(case(
        'argon2-cffi argon2id with this project\'s parameters (m=19456,t=2,p=1) of a raw non-NFKC password', 'argon2',
        argon2_hash(password, argon2_ll.Type.ID, 2, 19456, 1), password,
        refuses=[unicodedata.normalize('NFKC', password), password[:72]],
        note='same parameters as our own hashes, but hashed without NFKC: the raw password must be tried'))
    return cases


def check_size_limit():
    """passlib refuses passwords over 4096 characters for pbkdf2_sha256 and argon2 as well, even
    when the hash matches (argon2-cffi alone does not): asserted here, as passlib cannot hash them."""
    for size, refused in ((4096, False), (4097, True)):
        password = 'x' * size
        digest = hashlib.pbkdf2_hmac('sha256', password.encode(), b'salt' * 4, 1000)
        pbkdf2 = '$pbkdf2-sha256$1000$%s$%s' % (ab64_encode(b'salt' * 4).decode(), ab64_encode(digest).decode())
        argon = argon2_hash(password, argon2_ll.Type.ID, 1, 1024, 1)
        for hash in (pbkdf2, argon):
            try:
                assert CONTEXT.verify(password, hash) and not refused
            except PasswordSizeError:
                assert refused


def import_fixtures():
    def bc(user):
        return bcrypt_hash(IMPORT_PASSWORDS[user], rounds=5)

    fake_users_db = {
        'johndoe': {'username': 'johndoe', 'full_name': 'John Doe', 'email': 'johndoe@example.com',
                    'hashed_password': CONTEXT.hash(IMPORT_PASSWORDS['johndoe']), 'disabled': False},
        'alice': {'username': 'alice', 'full_name': 'Alice Wonderson', 'email': 'alice@example.com',
                  'hashed_password': bc('alice'), 'disabled': True},
    }
    users_array = [
        {'username': 'bob', 'email': 'bob@example.com', 'full_name': 'Bob', 'hashed_password': bc('bob'),
         'disabled': False, 'is_admin': True},
        {'username': 'Carol', 'email': None, 'full_name': None,
         'hashed_password': pbkdf2_sha256.using(rounds=2000).hash(IMPORT_PASSWORDS['carol'])},
        {'username': 'dave', 'hashed_password': argon2_hash(IMPORT_PASSWORDS['dave'], argon2_ll.Type.I, 2, 4096, 1)},
        {'username': 'admin@example.com', 'email': 'admin@example.com', 'full_name': 'Admin',
         'hashed_password': bc('admin@example.com'), 'is_admin': True},
    ]
    fullstack = [
        {'id': 'b3c1a7e2-5d0e-4a8a-9f57-0c1f5f3e2a10', 'email': 'admin@example.com', 'is_active': True,
         'is_superuser': True, 'full_name': None, 'hashed_password': bc('admin@example.com')},
        {'id': '6f1e0d35-0a55-4b8f-8e0a-2f5b8f9f0c21', 'email': 'user@example.com', 'is_active': True,
         'is_superuser': False, 'full_name': 'Some User',
         'hashed_password': argon2_hash(IMPORT_PASSWORDS['user@example.com'], argon2_ll.Type.ID, 3, 65536, 4)},
        {'id': '0c9b1c4e-7f59-4d8e-b8a3-5a3c1f6d7e32', 'email': 'former@example.com', 'is_active': False,
         'is_superuser': False, 'full_name': 'Former Employee', 'hashed_password': bc('former@example.com')},
    ]
    for user in fake_users_db.values():
        assert CONTEXT.verify(IMPORT_PASSWORDS[user['username']], user['hashed_password'])
    for user in users_array:
        assert CONTEXT.verify(IMPORT_PASSWORDS[user['username'].lower()], user['hashed_password'])
    for user in fullstack:
        assert CONTEXT.verify(IMPORT_PASSWORDS[user['email']], user['hashed_password'])

    good = bc('bob')
    invalid_hashes = [
        {'username': 'ok-user', 'hashed_password': good},
        {'username': 'plain', 'hashed_password': 'fakehashedsecret'},  # the tutorial's pre-hashing step
        {'username': 'md5crypt', 'hashed_password': passlib.hash.md5_crypt.hash('x')},
        {'username': 'bcryptsha', 'hashed_password': passlib.hash.bcrypt_sha256.using(rounds=4).hash('x')},
        {'username': 'sha512', 'hashed_password': passlib.hash.pbkdf2_sha512.using(rounds=1000).hash('x')},
        {'username': 'cut-short', 'hashed_password': good[:40]},
    ]
    invalid_usernames = [
        {'username': 'jo', 'hashed_password': good},
        {'username': 'john doe', 'hashed_password': good},
        {'username': '-john', 'hashed_password': good},
        {'username': 'j\u00f6hn', 'hashed_password': good},
        {'username': 'x' * 65, 'hashed_password': good},
        {'username': 'mail@example.com', 'email': 'other@example.com', 'hashed_password': good},
        {'username': 'fine.name', 'hashed_password': good},
    ]
    invalid_duplicates = {
        'johndoe': {'username': 'johndoe', 'email': 'john@example.com', 'hashed_password': good},
        'JohnDoe': {'username': 'JohnDoe', 'email': 'jd@example.com', 'hashed_password': good},
        'janedoe': {'username': 'janedoe', 'email': 'John@Example.com', 'hashed_password': good},
    }
    return {
        'fake-users-db.json': fake_users_db,
        'users-array.json': users_array,
        'fullstack-users.json': fullstack,
        'invalid-unknown-hash.json': invalid_hashes,
        'invalid-bad-username.json': invalid_usernames,
        'invalid-duplicates.json': invalid_duplicates,
    }


def write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=True) + '\n', encoding='ascii')
    print(f'wrote {path.relative_to(ROOT)}')


def main():
    assert passlib_bcrypt.get_backend() == 'bcrypt', 'expected the pyca/bcrypt backend'
    assert passlib_argon2.get_backend() == 'argon2_cffi', 'expected the argon2-cffi backend'
    check_size_limit()
    write(FIXTURES / 'foreign-hashes.json', {
        '$comment': 'Generated by scripts/make-hash-fixtures.py; regenerate rather than edit. '
                    '"accepts": other passwords passlib also accepts; "refuses": passwords it refuses, '
                    'with passlib\'s answer (False or the exception it raises).',
        'generated_with': {
            'python': sys.version.split()[0],
            'passlib': passlib.__version__,
            'bcrypt': bcrypt_lib.__version__,
            'argon2-cffi': argon2.__version__,
        },
        'cases': foreign_hash_cases(),
    })
    for name, data in import_fixtures().items():
        write(FIXTURES / 'import' / name, data)


if __name__ == '__main__':
    main()
