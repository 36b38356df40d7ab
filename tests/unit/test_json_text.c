/* core's JSON text buffer (json.h), which the dumps and the picture write through: a piece
 * printf cannot make (INT_MAX bytes or more: vsnprintf fails) must fail the whole text, never be
 * left out of it with the text answered OK. */
#include <criterion/criterion.h>
#include <string.h>
#include <wchar.h>

#include "json.h"

Test(json_text, a_piece_printf_cannot_make_fails_the_text)
{
    gpumem_json text = {0};
    gpumem_json_append(&text, "%s", "before ");
    cr_assert_not(text.failed);
    /* vsnprintf fails (-1) for a piece it cannot make: one of INT_MAX bytes or more
     * (EOVERFLOW), or, as here at once, a wide character the C locale has no byte for
     * (EILSEQ). The same path either way. */
    gpumem_json_append(&text, "%ls", L"\x100");
    cr_expect(text.failed, "the text lacks a piece and says nothing");
    gpumem_json_free(&text);
}

Test(json_text, pieces_append_in_order)
{
    gpumem_json text = {0};
    for (int i = 0; i < 1000; i++)
        gpumem_json_append(&text, "%d,", i % 10);
    cr_assert_not(text.failed);
    cr_expect_eq(text.length, 2000);
    cr_expect(strncmp(text.text, "0,1,2,3,4,5,6,7,8,9,0,", 22) == 0);
    gpumem_json_free(&text);
}
